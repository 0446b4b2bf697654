;; recursion: unbounded recursion, until the call stack is exhausted.
;; Expected: the run fails with a trap (stack overflow / call stack exhausted).
(module
  (memory (export "memory") 1)
  (func $down (param $depth i64) (result i64)
    (i64.add (call $down (i64.add (local.get $depth) (i64.const 1)))
             (local.get $depth)))
  (func $run (export "run") (result i32)
    (i32.wrap_i64 (call $down (i64.const 0)))))
