;; import_emit_wrong_signature: imports phasehost.emit with done and total as
;; i32, i.e. (i32, i32, i32, i32, i32) -> i32; ABI v1 says
;; (i32, i64, i64, i32, i32) -> i32.
(module
  (import "phasehost" "emit" (func $emit (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (drop (call $emit (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0)))
    (i32.const 0)))
