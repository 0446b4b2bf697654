;; import_env_module: imports env.abort (as AssemblyScript modules do); only
;; "phasehost" and "wasi_snapshot_preview1" are allowed.
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
