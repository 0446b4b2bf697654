;; memory_grow: grows its memory one 64 KiB page at a time, writing to each new
;; page, towards 64 MiB (1024 pages), against limits.memory_mb 2 (32 pages).
;; When memory.grow returns -1 (refused) it writes "out of memory" to stderr and
;; traps (unreachable), as a language runtime aborts when it runs out of
;; memory. If it reaches 1024 pages the host did not enforce the limit, and it
;; returns 0.
;; Expected: the run fails with a memory-limit error (the trap happens at the
;; 2 MiB limit); it must not succeed.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out of memory\n")  ;; 16, 14
  ;; 32: iovec {16, 14}; 40: nwritten
  (func $run (export "run") (result i32)
    (local $old i32)
    (loop $more
      (local.set $old (memory.grow (i32.const 1)))
      (if (i32.eq (local.get $old) (i32.const -1))
        (then
          (i32.store (i32.const 32) (i32.const 16))
          (i32.store (i32.const 36) (i32.const 14))
          (drop (call $fd_write (i32.const 2) (i32.const 32) (i32.const 1) (i32.const 40)))
          (unreachable)))
      ;; touch the new page
      (i32.store8 (i32.shl (local.get $old) (i32.const 16)) (i32.const 1))
      (br_if $more (i32.lt_u (memory.size) (i32.const 1024))))
    (i32.const 0)))
