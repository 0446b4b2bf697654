;; init_loop: loops forever in _initialize; run would return 0.
;; Expected: the run fails with a timeout after limits.timeout_ms (200 ms); the
;; deadline covers _initialize as well as run.
(module
  (memory (export "memory") 1)
  (func $_initialize (export "_initialize")
    (loop $forever
      (br $forever)))
  (func $run (export "run") (result i32)
    (i32.const 0)))
