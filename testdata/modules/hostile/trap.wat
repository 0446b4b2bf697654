;; trap: emits TRAP_START, then executes unreachable.
;; Expected: the run fails with a trap (unreachable); the START event is the
;; only phase event.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "about to trap")  ;; 16, 13
  (func $run (export "run") (result i32)
    (drop (call $emit (i32.const 0) (i64.const 0) (i64.const 1) (i32.const 16) (i32.const 13)))
    (unreachable)))
