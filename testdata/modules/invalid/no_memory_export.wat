;; no_memory_export: has a memory but does not export it as "memory".
(module
  (memory 1)
  (func $run (export "run") (result i32)
    (i32.const 0)))
