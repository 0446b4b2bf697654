;; input_read_oob: calls input_read(65530) with a 1-page (64 KiB) memory, so any
;; input longer than 6 bytes lands past the end. Give it a non-empty input such
;; as {"pad":"0123456789"}. If the call returns, it calls fail("input_read
;; wrote out of bounds") and returns 2.
;; Expected: the run fails with the host's out-of-bounds error naming
;; input_read.
(module
  (import "phasehost" "input_len" (func $input_len (result i32)))
  (import "phasehost" "input_read" (func $input_read (param i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "input_read wrote out of bounds")  ;; 16, 30
  (data (i32.const 48) "input_read_oob needs an input longer than 6 bytes")  ;; 48, 49
  (func $run (export "run") (result i32)
    (if (i32.le_u (call $input_len) (i32.const 6))
      (then
        (call $fail (i32.const 48) (i32.const 49))
        (return (i32.const 3))))
    (call $input_read (i32.const 65530))
    (call $fail (i32.const 16) (i32.const 30))
    (i32.const 2)))
