// The runtime would otherwise zero every stackalloc: a 4 KiB memset per path syscall (the PATH_MAX
// buffer of Interop.FsPath.cs / Interop.FsXattr.cs), 1.4-2% of the daemon's samples in READDIRPLUS
// (docs/benchmark.md, "Profile").
//
// Sound because every stack buffer in this assembly is written before anything reads it (audited when
// this was added; keep it so when adding one):
// * path and xattr-name buffers: CString.Copy copies the name and its NUL, and the kernel reads only up
//   to that NUL; nothing after it is ever read;
// * pipe2/socketpair int[2]: written by the kernel, read only on success;
// * SendMsg/RecvMsg control buffers and the io_uring probe buffer: cleared explicitly before use;
// * the io_uring CQE discard buffer: only the entries DrainCompletions wrote are read;
// * unassigned struct locals whose address is taken (RLimit, SockAddrUn, KernelTimespec,
//   IoUringGetEventsArg, MsgHdr): filled by the kernel before a successful read, or assigned whole
//   (`*addr = default`, `new T { ... }`, `msg = default`) before use.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
