;; event_flood: emits FLOOD_PROGRESS as fast as it can until emit answers -3
;; (event budget spent; limits.max_events is 100), then emits 1000 more, each
;; of which must answer -3 too, and returns 0.
;; It calls fail(...) and returns 1 if the budget is never enforced (no -3 in
;; 10^6 emits), 2 on any other status, 3 if more than 100 emits were accepted,
;; 4 if an emit after the first -3 did not answer -3.
;; Expected: the run succeeds; at most 100 phase events are published (exactly
;; 100 unless the operator's policy caps max_events lower).
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "flood")                                        ;; 16, 5
  (data (i32.const 32) "event budget never enforced")                  ;; 32, 27
  (data (i32.const 64) "unexpected status from emit")                  ;; 64, 27
  (data (i32.const 96) "more than max_events emits accepted")          ;; 96, 35
  (data (i32.const 144) "emit accepted an event after answering -3")   ;; 144, 41
  (func $run (export "run") (result i32)
    (local $i i64) (local $accepted i64) (local $r i32)
    (block $spent
      (loop $flood
        (local.set $r (call $emit (i32.const 1) (local.get $i) (i64.const 0)
                                  (i32.const 16) (i32.const 5)))
        (br_if $spent (i32.eq (local.get $r) (i32.const -3)))
        (if (local.get $r)
          (then (call $fail (i32.const 64) (i32.const 27)) (return (i32.const 2))))
        (local.set $accepted (i64.add (local.get $accepted) (i64.const 1)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br_if $flood (i64.lt_u (local.get $i) (i64.const 1000000))))
      (call $fail (i32.const 32) (i32.const 27))
      (return (i32.const 1)))
    (if (i64.gt_u (local.get $accepted) (i64.const 100))
      (then (call $fail (i32.const 96) (i32.const 35)) (return (i32.const 3))))
    (local.set $i (i64.const 0))
    (loop $more
      (if (i32.ne (call $emit (i32.const 1) (local.get $i) (i64.const 0) (i32.const 16) (i32.const 5))
                  (i32.const -3))
        (then (call $fail (i32.const 144) (i32.const 41)) (return (i32.const 4))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $more (i64.lt_u (local.get $i) (i64.const 1000))))
    (i32.const 0)))
