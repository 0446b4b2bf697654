;; wasi_probe: checks that WASI gives it nothing to reach: no arguments, no
;; environment variables, no preopened directory (fd 3 answers EBADF = 8), and
;; that path_open on fd 3 fails. Then writes {"args":0,"env":0,"preopens":0} and
;; returns 0. On the first thing it can reach it calls fail("wasi: <what>") and
;; returns 1.
;; Expected: the run succeeds with output {"args":0,"env":0,"preopens":0}.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (import "phasehost" "fail" (func $fail (param i32 i32)))
  (memory (export "memory") 1)
  ;; 0..15: results of the WASI calls
  (data (i32.const 16) "{\"args\":0,\"env\":0,\"preopens\":0}")  ;; 16, 31
  (data (i32.const 64) "wasi: args present")                    ;; 64, 18
  (data (i32.const 96) "wasi: environment present")             ;; 96, 25
  (data (i32.const 128) "wasi: fd 3 is a preopen")              ;; 128, 23
  (data (i32.const 160) "wasi: path_open succeeded")            ;; 160, 25
  (data (i32.const 192) "etc/passwd")                           ;; 192, 10
  (func $run (export "run") (result i32)
    ;; args: count at 0, buffer size at 4
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.load (i32.const 0))
      (then (call $fail (i32.const 64) (i32.const 18)) (return (i32.const 1))))
    ;; environment: count at 0, buffer size at 4
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.load (i32.const 0))
      (then (call $fail (i32.const 96) (i32.const 25)) (return (i32.const 1))))
    ;; the first preopen would be fd 3
    (if (i32.ne (call $fd_prestat_get (i32.const 3) (i32.const 0)) (i32.const 8))
      (then (call $fail (i32.const 128) (i32.const 23)) (return (i32.const 1))))
    ;; path_open(fd 3, dirflags 0, "etc/passwd", oflags 0, rights read, 0, fdflags 0, &fd)
    (if (i32.eqz (call $path_open (i32.const 3) (i32.const 0) (i32.const 192) (i32.const 10)
                                  (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
                                  (i32.const 8)))
      (then (call $fail (i32.const 160) (i32.const 25)) (return (i32.const 1))))
    (drop (call $output_write (i32.const 16) (i32.const 31)))
    (i32.const 0)))
