;; bad_version: version "1.x" is not a semantic version.
;; The module itself is fine: it exports memory and run () -> i32.
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
