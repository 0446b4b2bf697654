;; big_output: appends 1000-byte chunks with output_write until it answers -1
;; (limits.max_output_bytes is 4096, so the fifth write is refused), then calls
;; fail("output over max_output_bytes") and returns 1. If the limit is never
;; enforced (10^5 chunks, 100 MB) it calls fail("output limit never enforced")
;; and returns 2.
;; Expected: the run fails with "output over max_output_bytes"; no output is
;; kept as the stage's result.
(module
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "output over max_output_bytes")  ;; 16, 28
  (data (i32.const 48) "output limit never enforced")   ;; 48, 27
  (func $run (export "run") (result i32)
    (local $i i32)
    (memory.fill (i32.const 1024) (i32.const 0x78) (i32.const 1000))  ;; 'x' * 1000
    (loop $more
      (if (i32.eq (call $output_write (i32.const 1024) (i32.const 1000)) (i32.const -1))
        (then (call $fail (i32.const 16) (i32.const 28)) (return (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 100000))))
    (call $fail (i32.const 48) (i32.const 27))
    (i32.const 2)))
