;; manifest_truncated_json: its phasehost.manifest section is JSON cut off in
;; the middle (neither JSON nor YAML).
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
