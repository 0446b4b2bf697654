;; emit_oob: calls emit with message ranges outside its 1-page (64 KiB) memory:
;;   ptr 0xFFFFFFF0 len 100        (starts past the end)
;;   ptr 65500      len 100        (starts inside, ends past the end)
;;   ptr 0xFFFFFF00 len 0x200      (ptr + len wraps around 2^32)
;;   ptr 16         len 0xFFFFFFFF (negative length as i32)
;; ABI v1: emit answers -2 (bad message) for each, and publishes nothing. The
;; module then calls fail("emit refused out-of-bounds messages with -2") and
;; returns 1. If any call answers something else it calls fail("emit accepted
;; an out-of-bounds message") and returns 2.
;; Expected: the run fails with "emit refused out-of-bounds messages with -2";
;; no phase event is published; the host does not crash.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "emit refused out-of-bounds messages with -2")  ;; 16, 43
  (data (i32.const 64) "emit accepted an out-of-bounds message")       ;; 64, 38
  (func $bad (param $ptr i32) (param $len i32) (result i32)
    (i32.ne (call $emit (i32.const 1) (i64.const 1) (i64.const 2) (local.get $ptr) (local.get $len))
            (i32.const -2)))
  (func $run (export "run") (result i32)
    (if (i32.or
          (i32.or (call $bad (i32.const 0xFFFFFFF0) (i32.const 100))
                  (call $bad (i32.const 65500) (i32.const 100)))
          (i32.or (call $bad (i32.const 0xFFFFFF00) (i32.const 0x200))
                  (call $bad (i32.const 16) (i32.const 0xFFFFFFFF))))
      (then
        (call $fail (i32.const 64) (i32.const 38))
        (return (i32.const 2))))
    (call $fail (i32.const 16) (i32.const 43))
    (i32.const 1)))
