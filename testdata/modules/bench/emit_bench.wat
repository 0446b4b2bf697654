;; Benchmark module (not a plugin: it imports a "bench" module that only the
;; benchmark provides). emit_loop calls phasehost.emit n times; noop_loop calls
;; a host function with the same signature that does nothing. The ratio of the
;; two is the cost of emit over a bare host call. See BENCHMARKS.md.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "bench" "noop" (func $noop (param i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "placed part 17 of 200")
  (func (export "emit_loop") (param $n i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $emit (i32.const 1) (i64.extend_i32_u (local.get $i)) (i64.const 1000000) (i32.const 0) (i32.const 21)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "noop_loop") (param $n i32) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (call $noop (i32.const 1) (i64.extend_i32_u (local.get $i)) (i64.const 1000000) (i32.const 0) (i32.const 21)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))
  (func (export "run") (result i32) (i32.const 0)))
