;; no_run_export: exports its entry point as "main" instead of "run".
(module
  (memory (export "memory") 1)
  (func $main (export "main") (result i32)
    (i32.const 0)))
