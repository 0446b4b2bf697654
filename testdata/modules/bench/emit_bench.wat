;; Benchmark module (not a plugin: it imports a "bench" module that only the
;; benchmark provides). emit_loop calls phasehost.emit n times with the message
;; [ptr, ptr+len); noop_loop calls a host function with the same signature,
;; which does nothing, n times with the same arguments. The difference of the
;; two is the cost of emit over a bare host call. See BENCHMARKS.md.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "bench" "noop" (func $noop (param i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "placed part 17 of 200")           ;; 21 bytes, ASCII
  (data (i32.const 32) "meshed part 17 of 200: 9 faces")  ;; 30 bytes, ASCII
  (data (i32.const 64) "pi\c3\a8ce 17 sur 200 plac\c3\a9e (M8)") ;; 30 bytes, two 2-byte sequences
  (func (export "emit_loop") (param $n i32) (param $ptr i32) (param $len i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $emit (i32.const 1) (i64.extend_i32_u (local.get $i)) (i64.const 1000000) (local.get $ptr) (local.get $len)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "noop_loop") (param $n i32) (param $ptr i32) (param $len i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $noop (i32.const 1) (i64.extend_i32_u (local.get $i)) (i64.const 1000000) (local.get $ptr) (local.get $len)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "run") (result i32) (i32.const 0)))
