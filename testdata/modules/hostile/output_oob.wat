;; output_oob: calls output_write(0xFFFFFF00, 4096): a range outside its memory.
;; If the call returns at all, it calls fail("output_write accepted an
;; out-of-bounds range") and returns 2.
;; Expected: the run fails with the host's out-of-bounds error naming
;; output_write; no output is stored.
(module
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "output_write accepted an out-of-bounds range")  ;; 16, 44
  (func $run (export "run") (result i32)
    (drop (call $output_write (i32.const 0xFFFFFF00) (i32.const 4096)))
    (call $fail (i32.const 16) (i32.const 44))
    (i32.const 2)))
