;; dirty: checks that its linear memory starts zeroed, then dirties all of it.
;;
;; Grows memory to 4 pages, fails ("memory not zero at start") and returns 1
;; if any byte from 1024 to the end is not zero, else writes 0xA5 over all
;; of it and the output {} and returns 0. Run twice on one engine, the second
;; run gets the memory the first one left (the host reuses mappings): it must
;; find it zeroed again.
(module
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))

  (memory (export "memory") 1)

  (data (i32.const 16) "memory not zero at start")  ;; 16, 24
  (data (i32.const 48) "{}")                        ;; 48, 2

  (func $run (export "run") (result i32)
    (local $p i32) (local $end i32)
    (drop (memory.grow (i32.const 3)))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))

    (local.set $p (i32.const 1024))
    (loop $check
      (if (i64.ne (i64.load (local.get $p)) (i64.const 0))
        (then (call $fail (i32.const 16) (i32.const 24)) (return (i32.const 1))))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $check (i32.lt_u (local.get $p) (local.get $end))))

    (local.set $p (i32.const 1024))
    (loop $dirty
      (i64.store (local.get $p) (i64.const 0xA5A5A5A5A5A5A5A5))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $dirty (i32.lt_u (local.get $p) (local.get $end))))

    (drop (call $output_write (i32.const 48) (i32.const 2)))
    (i32.const 0)))
