;; log_oob: calls log(1, 0xFFFFFFF0, 64): a message range outside its memory.
;; If the call returns, it returns 0.
;; Expected: the run fails with the host's out-of-bounds error naming log.
(module
  (import "phasehost" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (call $log (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 64))
    (i32.const 0)))
