;; ok: a well-behaved plugin that uses every ABI v1 host function.
;;
;; Checks cancelled(), reads its whole input, emits OK_READ_START (0/4), four
;; OK_READ_PROGRESS (1/4 .. 4/4) and OK_READ_END (4/4), logs one info line,
;; prints one line to stdout through WASI, writes the output
;; {"ok":true,"input_len":N} and returns 0.
;; Any unexpected status from the host makes it fail("...") and return 2, so a
;; host bug shows up as a failed run with a message naming the call.
(module
  (import "phasehost" "input_len" (func $input_len (result i32)))
  (import "phasehost" "input_read" (func $input_read (param i32)))
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "log" (func $log (param i32 i32 i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (import "phasehost" "cancelled" (func $cancelled (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Phase ids are indexes in the manifest's phases list.
  (global $OK_READ_START i32 (i32.const 0))
  (global $OK_READ_PROGRESS i32 (i32.const 1))
  (global $OK_READ_END i32 (i32.const 2))

  ;; Constant strings (offset, length in the comment).
  (data (i32.const 16) "reading input")                   ;; 16, 13
  (data (i32.const 32) "one more quarter read")           ;; 32, 21
  (data (i32.const 64) "input read")                      ;; 64, 10
  (data (i32.const 80) "ok: input read, writing output")  ;; 80, 30
  (data (i32.const 112) "{\"ok\":true,\"input_len\":")    ;; 112, 23
  (data (i32.const 136) "}")                              ;; 136, 1
  (data (i32.const 144) "cancelled")                      ;; 144, 9
  (data (i32.const 160) "unexpected status from emit")    ;; 160, 27
  (data (i32.const 192) "unexpected status from output_write") ;; 192, 35
  (data (i32.const 240) "input too large for memory")     ;; 240, 26
  (data (i32.const 272) "ok: hello from stdout\n")        ;; 272, 22
  ;; 320..331: iovec for fd_write; 336: nwritten
  ;; 352..383: scratch for decimal digits (written backwards from 383)
  ;; 1024..: the input

  ;; emit and map its status: 0 -> 0, 1 -> fail("cancelled") 1, else fail(...) 2.
  (func $emit_checked (param $phase i32) (param $done i64) (param $total i64)
                      (param $ptr i32) (param $len i32) (result i32)
    (local $r i32)
    (local.set $r (call $emit (local.get $phase) (local.get $done) (local.get $total)
                              (local.get $ptr) (local.get $len)))
    (if (i32.eqz (local.get $r)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $r) (i32.const 1))
      (then (call $fail (i32.const 144) (i32.const 9)) (return (i32.const 1))))
    (call $fail (i32.const 160) (i32.const 27))
    (i32.const 2))

  ;; output_write and map its status: 0 -> 0, else fail(...) 2.
  (func $write_checked (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eqz (call $output_write (local.get $ptr) (local.get $len)))
      (then (return (i32.const 0))))
    (call $fail (i32.const 192) (i32.const 35))
    (i32.const 2))

  ;; Write the decimal digits of n into the scratch area; return the offset of
  ;; the first digit (the digits end at 384).
  (func $itoa (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (i32.const 384))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (local.get $p))

  (func $run (export "run") (result i32)
    (local $n i32) (local $pages i32) (local $i i32) (local $r i32) (local $digits i32)

    (if (call $cancelled)
      (then (call $fail (i32.const 144) (i32.const 9)) (return (i32.const 1))))

    ;; Read the input to 1024, growing memory when it does not fit.
    (local.set $n (call $input_len))
    (local.set $pages (i32.shr_u (i32.add (i32.add (local.get $n) (i32.const 1024))
                                          (i32.const 65535))
                                 (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (call $fail (i32.const 240) (i32.const 26)) (return (i32.const 1))))))
    (call $input_read (i32.const 1024))

    ;; START, PROGRESS 1/4 .. 4/4, END.
    (local.set $r (call $emit_checked (global.get $OK_READ_START) (i64.const 0) (i64.const 4)
                                      (i32.const 16) (i32.const 13)))
    (if (local.get $r) (then (return (local.get $r))))
    (local.set $i (i32.const 1))
    (loop $quarter
      (local.set $r (call $emit_checked (global.get $OK_READ_PROGRESS)
                                        (i64.extend_i32_u (local.get $i)) (i64.const 4)
                                        (i32.const 32) (i32.const 21)))
      (if (local.get $r) (then (return (local.get $r))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $quarter (i32.le_u (local.get $i) (i32.const 4))))
    (local.set $r (call $emit_checked (global.get $OK_READ_END) (i64.const 4) (i64.const 4)
                                      (i32.const 64) (i32.const 10)))
    (if (local.get $r) (then (return (local.get $r))))

    ;; log (info) and one line on stdout (fd 1).
    (call $log (i32.const 1) (i32.const 80) (i32.const 30))
    (i32.store (i32.const 320) (i32.const 272))
    (i32.store (i32.const 324) (i32.const 22))
    (drop (call $fd_write (i32.const 1) (i32.const 320) (i32.const 1) (i32.const 336)))

    ;; {"ok":true,"input_len":N}
    (local.set $digits (call $itoa (local.get $n)))
    (local.set $r (call $write_checked (i32.const 112) (i32.const 23)))
    (if (local.get $r) (then (return (local.get $r))))
    (local.set $r (call $write_checked (local.get $digits)
                                       (i32.sub (i32.const 384) (local.get $digits))))
    (if (local.get $r) (then (return (local.get $r))))
    (local.set $r (call $write_checked (i32.const 136) (i32.const 1)))
    (if (local.get $r) (then (return (local.get $r))))
    (i32.const 0)))
