;; cancel: runs until the job is cancelled.
;;
;; Emits CANCEL_SPIN_START, then loops: spins about 10^6 iterations, emits
;; CANCEL_SPIN_PROGRESS (done = round, total 0 = indeterminate) and checks
;; cancelled(). As soon as emit returns 1 or cancelled() returns 1 it calls
;; fail("cancelled") and returns 1. It gives up after 10^4 rounds (10^10 spins
;; in all) with fail("not cancelled after 10000 rounds") and returns 2, so it
;; always ends even if the host never cancels it (timeout_ms 30000 caps it too).
;; With max_events 1000 the host may answer -3 once the budget is spent; the
;; loop carries on regardless and still stops on cancellation.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (import "phasehost" "cancelled" (func $cancelled (result i32)))

  (memory (export "memory") 1)

  (global $CANCEL_SPIN_START i32 (i32.const 0))
  (global $CANCEL_SPIN_PROGRESS i32 (i32.const 1))

  (data (i32.const 16) "spinning until cancelled")          ;; 16, 24
  (data (i32.const 48) "one more round")                    ;; 48, 14
  (data (i32.const 64) "cancelled")                         ;; 64, 9
  (data (i32.const 80) "not cancelled after 10000 rounds")  ;; 80, 32

  (func $stop (result i32)
    (call $fail (i32.const 64) (i32.const 9))
    (i32.const 1))

  (func $run (export "run") (result i32)
    (local $round i64) (local $spin i32)
    (if (i32.eq (call $emit (global.get $CANCEL_SPIN_START) (i64.const 0) (i64.const 0)
                            (i32.const 16) (i32.const 24))
                (i32.const 1))
      (then (return (call $stop))))
    (loop $rounds
      (local.set $spin (i32.const 1000000))
      (loop $busy
        (local.set $spin (i32.sub (local.get $spin) (i32.const 1)))
        (br_if $busy (local.get $spin)))
      (local.set $round (i64.add (local.get $round) (i64.const 1)))
      (if (i32.eq (call $emit (global.get $CANCEL_SPIN_PROGRESS) (local.get $round) (i64.const 0)
                              (i32.const 48) (i32.const 14))
                  (i32.const 1))
        (then (return (call $stop))))
      (if (i32.eq (call $cancelled) (i32.const 1))
        (then (return (call $stop))))
      (br_if $rounds (i64.lt_u (local.get $round) (i64.const 10000))))
    (call $fail (i32.const 80) (i32.const 32))
    (i32.const 2)))
