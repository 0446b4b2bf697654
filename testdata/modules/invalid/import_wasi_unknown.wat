;; import_wasi_unknown: imports wasi_snapshot_preview1.sock_open, which WASI
;; preview1 does not define (it has sock_accept, sock_recv, sock_send and
;; sock_shutdown only); only functions the host's WASI provides, with their
;; exact signatures, may be imported.
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $sock_open (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
