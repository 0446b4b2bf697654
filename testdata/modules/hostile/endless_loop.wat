;; endless_loop: loops forever in run.
;; Expected: the run fails with a timeout after limits.timeout_ms (200 ms).
(module
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (loop $forever
      (br $forever))
    (i32.const 0)))
