;; stdout_spam: writes 4 MiB to stdout and 4 MiB to stderr through WASI
;; fd_write: 64 writes of 64 KiB to each, every write 64 lines of 1023 "x" and
;; a newline (8192 lines in all), ignoring fd_write's errno, then returns 0.
;; Expected: the run succeeds (output null); the host log holds at most its
;; per-run cap of this output (Phasehost: 1 MiB) and notes how much was
;; dropped; the host stays responsive.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param $fd i32) (param $iovs i32) (param $iovs_len i32) (param $nwritten i32)
                    (result i32)))
  (memory (export "memory") 2)
  ;; 16: iovec {buf = 65536, len = 65536}; 24: nwritten
  ;; 65536..131071: 64 lines of 1023 "x" and "\n"
  (func $run (export "run") (result i32)
    (local $i i32)
    (memory.fill (i32.const 65536) (i32.const 0x78) (i32.const 65536))
    (local.set $i (i32.const 66559))  ;; 65536 + 1023: end of the first line
    (loop $newline
      (i32.store8 (local.get $i) (i32.const 0x0a))
      (local.set $i (i32.add (local.get $i) (i32.const 1024)))
      (br_if $newline (i32.lt_u (local.get $i) (i32.const 131072))))
    (i32.store (i32.const 16) (i32.const 65536))
    (i32.store (i32.const 20) (i32.const 65536))
    (local.set $i (i32.const 0))
    (loop $spam
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spam (i32.lt_u (local.get $i) (i32.const 64))))
    (i32.const 0)))
