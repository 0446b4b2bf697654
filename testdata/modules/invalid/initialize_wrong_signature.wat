;; initialize_wrong_signature: exports _initialize as () -> i32 instead of () -> ().
(module
  (memory (export "memory") 1)
  (func $_initialize (export "_initialize") (result i32)
    (i32.const 0))
  (func $run (export "run") (result i32)
    (i32.const 0)))
