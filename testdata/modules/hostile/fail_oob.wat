;; fail_oob: calls fail(0xFFFFFFF0, 64): a message range outside its memory,
;; then returns 1.
;; Expected: the run fails; the error is the host's out-of-bounds error naming
;; fail (the message cannot be read).
(module
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (call $fail (i32.const 0xFFFFFFF0) (i32.const 64))
    (i32.const 1)))
