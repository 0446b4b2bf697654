;; undeclared_phase: emits phase ids its manifest does not declare (it declares
;; ids 0..2): 3 (one past the end), 99, -1, 0x7FFFFFFF and 0x80000000 (i32
;; minimum). Each must answer -1. It then returns 0; if any answer is not -1 it
;; calls fail("emit did not answer -1 for an undeclared phase id") and returns 1.
;; Expected: the run succeeds; no phase event is published (the host logs and
;; counts each undeclared id and never guesses a phase).
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "LIBRARY_LOAD_START")  ;; 16, 18
  (data (i32.const 48) "emit did not answer -1 for an undeclared phase id")  ;; 48, 49
  (func $undeclared (param $id i32) (result i32)
    (i32.ne (call $emit (local.get $id) (i64.const 1) (i64.const 2) (i32.const 16) (i32.const 18))
            (i32.const -1)))
  (func $run (export "run") (result i32)
    (if (i32.or
          (i32.or (call $undeclared (i32.const 3))
                  (call $undeclared (i32.const 99)))
          (i32.or (call $undeclared (i32.const -1))
                  (i32.or (call $undeclared (i32.const 0x7FFFFFFF))
                          (call $undeclared (i32.const 0x80000000)))))
      (then
        (call $fail (i32.const 48) (i32.const 49))
        (return (i32.const 1))))
    (i32.const 0)))
