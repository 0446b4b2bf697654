;; slow: a stage that takes a while and then succeeds, for tests that need a
;; job still running when something happens to its node.
;;
;; The input's length in bytes is the number of rounds (pad it to choose the
;; duration). Each round spins about
;; 10^6 iterations, then emits SLOW_SPIN_PROGRESS (done = round, total =
;; rounds) and checks cancelled(). After the last round it writes its input
;; back as its output (so slow after slow spins as long again) and returns 0;
;; cancelled, it fails with "cancelled".
(module
  (import "phasehost" "input_len" (func $input_len (result i32)))
  (import "phasehost" "input_read" (func $input_read (param i32)))
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (import "phasehost" "cancelled" (func $cancelled (result i32)))

  (memory (export "memory") 1)

  (global $SLOW_SPIN_START i32 (i32.const 0))
  (global $SLOW_SPIN_PROGRESS i32 (i32.const 1))
  (global $SLOW_SPIN_END i32 (i32.const 2))

  (data (i32.const 16) "spinning")          ;; 16, 8
  (data (i32.const 32) "one more round")    ;; 32, 14
  (data (i32.const 48) "cancelled")         ;; 48, 9
  (data (i32.const 80) "done")              ;; 80, 4

  (func $stop (result i32)
    (call $fail (i32.const 48) (i32.const 9))
    (i32.const 1))

  (func $run (export "run") (result i32)
    (local $round i64) (local $rounds i64) (local $spin i32)
    (local.set $rounds (i64.extend_i32_u (call $input_len)))
    (if (i32.eq (call $emit (global.get $SLOW_SPIN_START) (i64.const 0) (local.get $rounds)
                            (i32.const 16) (i32.const 8))
                (i32.const 1))
      (then (return (call $stop))))
    (block $finished
      (loop $rounds
        (br_if $finished (i64.ge_u (local.get $round) (local.get $rounds)))
        (local.set $spin (i32.const 1000000))
        (loop $busy
          (local.set $spin (i32.sub (local.get $spin) (i32.const 1)))
          (br_if $busy (local.get $spin)))
        (local.set $round (i64.add (local.get $round) (i64.const 1)))
        (if (i32.eq (call $emit (global.get $SLOW_SPIN_PROGRESS) (local.get $round) (local.get $rounds)
                                (i32.const 32) (i32.const 14))
                    (i32.const 1))
          (then (return (call $stop))))
        (if (i32.eq (call $cancelled) (i32.const 1))
          (then (return (call $stop))))
        (br $rounds)))
    (drop (call $emit (global.get $SLOW_SPIN_END) (local.get $rounds) (local.get $rounds)
                      (i32.const 80) (i32.const 4)))
    ;; The input at 1024, after growing the memory to hold it.
    (if (i32.gt_u (i32.add (i32.wrap_i64 (local.get $rounds)) (i32.const 1024))
                  (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (i32.wrap_i64 (local.get $rounds)) (i32.const 65536)) (i32.const 1))))))
    (call $input_read (i32.const 1024))
    (drop (call $output_write (i32.const 1024) (i32.wrap_i64 (local.get $rounds))))
    (i32.const 0)))
