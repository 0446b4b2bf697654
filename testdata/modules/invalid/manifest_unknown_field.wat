;; manifest_unknown_field: the manifest has a field the schema does not know ("phase_map", the seed design).
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
