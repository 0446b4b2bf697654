;; proc_exit: calls WASI proc_exit(0) inside run instead of returning; run
;; would otherwise write {"exited":false} and return 0.
;; Expected: the run fails ("exited": run never returned its status, even
;; though the exit code is 0); no output.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "phasehost" "output_write" (func $output_write (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"exited\":false}")  ;; 16, 16
  (func $run (export "run") (result i32)
    (call $proc_exit (i32.const 0))
    (drop (call $output_write (i32.const 16) (i32.const 16)))
    (i32.const 0)))
