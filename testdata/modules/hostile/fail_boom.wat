;; fail_boom: emits FAILBOOM_START, calls fail("boom: the flux capacitor
;; overheated") and returns 7.
;; Expected: the run fails with error "boom: the flux capacitor overheated"
;; (the host may add the return code 7).
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "boom: the flux capacitor overheated")  ;; 16, 35
  (func $run (export "run") (result i32)
    (drop (call $emit (i32.const 0) (i64.const 0) (i64.const 1) (i32.const 0) (i32.const 0)))
    (call $fail (i32.const 16) (i32.const 35))
    (i32.const 7)))
