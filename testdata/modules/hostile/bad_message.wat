;; bad_message: checks emit's message rules over declared phases.
;; Must answer 0 (published):
;;   BADMSG_START with an empty message (ptr 0, len 0)
;;   BADMSG_PROGRESS "größe ✓ 日本" (valid multi-byte UTF-8)
;;   BADMSG_PROGRESS with exactly 1024 bytes of "a"
;;   BADMSG_END "done"
;; Must answer -2 (bad message, nothing published), all on BADMSG_PROGRESS:
;;   "\ff"             not UTF-8 at all
;;   "\c0\af"          overlong encoding of "/"
;;   "\ed\a0\80"       UTF-16 surrogate U+D800
;;   "ok\e2\82"        truncated sequence
;;   "\f4\90\80\80"    past U+10FFFF
;;   1025 bytes of "a" (one over the limit)
;;   2000 bytes of "a"
;; On the first wrong answer it calls fail("emit: <which case>") and returns 1;
;; otherwise returns 0.
;; Expected: the run succeeds with exactly four phase events: START (empty
;; message), PROGRESS "größe ✓ 日本", PROGRESS with the 1024-byte message, END.
(module
  (import "phasehost" "emit" (func $emit (param i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)

  (global $BADMSG_START i32 (i32.const 0))
  (global $BADMSG_PROGRESS i32 (i32.const 1))
  (global $BADMSG_END i32 (i32.const 2))

  ;; messages
  (data (i32.const 16) "gr\c3\b6\c3\9fe \e2\9c\93 \e6\97\a5\e6\9c\ac")  ;; 16, 18 "größe ✓ 日本"
  (data (i32.const 48) "done")              ;; 48, 4
  (data (i32.const 56) "\ff")               ;; 56, 1
  (data (i32.const 60) "\c0\af")            ;; 60, 2
  (data (i32.const 64) "\ed\a0\80")         ;; 64, 3
  (data (i32.const 68) "ok\e2\82")          ;; 68, 4
  (data (i32.const 72) "\f4\90\80\80")      ;; 72, 4
  ;; 4096..6095: 2000 bytes of "a", filled by run
  ;; failure messages
  (data (i32.const 128) "emit: empty message not accepted")               ;; 128, 32
  (data (i32.const 176) "emit: valid multi-byte UTF-8 not accepted")      ;; 176, 41
  (data (i32.const 224) "emit: 1024-byte message not accepted")           ;; 224, 36
  (data (i32.const 272) "emit: END not accepted")                         ;; 272, 22
  (data (i32.const 304) "emit: 0xff not refused with -2")                 ;; 304, 30
  (data (i32.const 336) "emit: overlong encoding not refused with -2")    ;; 336, 43
  (data (i32.const 384) "emit: surrogate not refused with -2")            ;; 384, 35
  (data (i32.const 432) "emit: truncated sequence not refused with -2")   ;; 432, 44
  (data (i32.const 480) "emit: code point past U+10FFFF not refused with -2")  ;; 480, 50
  (data (i32.const 544) "emit: 1025-byte message not refused with -2")    ;; 544, 43
  (data (i32.const 592) "emit: 2000-byte message not refused with -2")    ;; 592, 43

  ;; emit(phase, 1, 2, ptr, len); if the answer is not want, fail(what) and
  ;; return 1, else return 0.
  (func $expect (param $phase i32) (param $ptr i32) (param $len i32) (param $want i32)
                (param $what i32) (param $what_len i32) (result i32)
    (if (i32.eq (call $emit (local.get $phase) (i64.const 1) (i64.const 2)
                            (local.get $ptr) (local.get $len))
                (local.get $want))
      (then (return (i32.const 0))))
    (call $fail (local.get $what) (local.get $what_len))
    (i32.const 1))

  (func $run (export "run") (result i32)
    (memory.fill (i32.const 4096) (i32.const 0x61) (i32.const 2000))  ;; "a" * 2000
    (if (call $expect (global.get $BADMSG_START) (i32.const 0) (i32.const 0) (i32.const 0)
                      (i32.const 128) (i32.const 32))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 16) (i32.const 18) (i32.const 0)
                      (i32.const 176) (i32.const 41))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 56) (i32.const 1) (i32.const -2)
                      (i32.const 304) (i32.const 30))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 60) (i32.const 2) (i32.const -2)
                      (i32.const 336) (i32.const 43))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 64) (i32.const 3) (i32.const -2)
                      (i32.const 384) (i32.const 35))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 68) (i32.const 4) (i32.const -2)
                      (i32.const 432) (i32.const 44))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 72) (i32.const 4) (i32.const -2)
                      (i32.const 480) (i32.const 50))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 4096) (i32.const 1025) (i32.const -2)
                      (i32.const 544) (i32.const 43))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 4096) (i32.const 2000) (i32.const -2)
                      (i32.const 592) (i32.const 43))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_PROGRESS) (i32.const 4096) (i32.const 1024) (i32.const 0)
                      (i32.const 224) (i32.const 36))
      (then (return (i32.const 1))))
    (if (call $expect (global.get $BADMSG_END) (i32.const 48) (i32.const 4) (i32.const 0)
                      (i32.const 272) (i32.const 22))
      (then (return (i32.const 1))))
    (i32.const 0)))
