;; run_wrong_signature: exports run as (i32) -> i32 instead of () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (param i32) (result i32)
    (local.get 0)))
