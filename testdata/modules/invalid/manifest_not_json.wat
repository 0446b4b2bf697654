;; manifest_not_json: its phasehost.manifest section holds YAML, not JSON.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
