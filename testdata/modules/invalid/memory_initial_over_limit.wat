;; memory_initial_over_limit: declares an initial memory of 1000 pages
;; (62.5 MiB) while its manifest asks for limits.memory_mb 2 (32 pages). Its
;; memory can never fit its own limit, so it is refused at load: the module
;; does not compile under its memory limit. (A host that only checked at run
;; time would fail every run at instantiation instead.)
(module
  (memory (export "memory") 1000)
  (func $run (export "run") (result i32)
    (i32.const 0)))
