;; bad_name: name "Bad Name" does not match ^[a-z][a-z0-9_-]{0,62}$.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
