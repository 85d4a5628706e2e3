/*
 * Linked into the NativeAOT binary only (VirtioFsd.csproj, target CompileNativeSources); called by
 * Sandbox/NamespaceSpawn.cs.
 *
 * --sandbox namespace with one clone(2): the daemon is created as pid 1 of new mount, pid, ipc, uts and net
 * namespaces (inside a new user namespace when the caller is not root) and execs, so the launch stage is its
 * direct parent, as the Rust virtiofsd's parent is of its forked child. A .NET program cannot do this from
 * managed code: the child of a fork of a multithreaded runtime must not run managed code (a pending garbage
 * collection would wait forever for threads the child does not have). The JIT build goes through unshare(1),
 * which stays as a third process that only waits (1.8 MiB RSS).
 *
 * The child runs in a copy of a multithreaded process: until execve it calls only async-signal-safe functions and
 * it never returns into the runtime. If execve fails, its errno goes back through a close-on-exec pipe, so the
 * caller gets a pid only for a child that is running the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * What unshare(1) --keep-caps does: the capabilities a new user namespace gives its first process become ambient,
 * so they survive the execve while the process's uid has no mapping yet (the launch stage writes the map later).
 */
static void make_capabilities_ambient(void)
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &header, data) != 0) {
        return;
    }
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].inheritable = data[i].permitted;
    }
    if (syscall(SYS_capset, &header, data) != 0) {
        return;
    }
    for (unsigned cap = 0; cap < 32 * _LINUX_CAPABILITY_U32S_3; cap++) {
        if (data[cap / 32].permitted & (1u << (cap % 32))) {
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
        }
    }
}

static void write_all(int fd, const void *buffer, size_t length)
{
    const char *p = buffer;
    while (length > 0) {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        length -= (size_t)n;
    }
}

static void run_child(const char *path, char *const argv[], char *const envp[], int ambient, int error_fd)
{
    /* The runtime blocks some signals on its threads and ignores SIGPIPE; the daemon starts as any program does. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction default_action = { .sa_handler = SIG_DFL };
    sigaction(SIGPIPE, &default_action, NULL);
    if (ambient) {
        make_capabilities_ambient();
    }
    execve(path, argv, envp);
    int error = errno;
    write_all(error_fd, &error, sizeof error);
    _exit(127);
}

/*
 * Starts path with argv and envp (NULL-terminated) in the namespaces of clone flags `namespaces` (CLONE_NEW*).
 * With ambient != 0 the child's capabilities are made ambient first (for a CLONE_NEWUSER child). Returns the child's
 * pid once it runs the program, or -errno: of clone(2) (EPERM, EINVAL, ENOSPC: the namespaces could not be made),
 * or of execve(2) in the child (which is then reaped).
 */
long virtiofsd_spawn_namespaced(const char *path, char *const argv[], char *const envp[], unsigned long namespaces,
    int ambient)
{
    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) {
        return -errno;
    }
    /* No CLONE_VM and no new stack: like fork(2), the child continues on a copy of this stack. */
    long pid = syscall(SYS_clone, namespaces | SIGCHLD, NULL, NULL, NULL, 0UL);
    if (pid == 0) {
        close(error_pipe[0]);
        run_child(path, argv, envp, ambient, error_pipe[1]);
    }
    int clone_error = errno;
    close(error_pipe[1]);
    if (pid < 0) {
        close(error_pipe[0]);
        return -clone_error;
    }
    int exec_error = 0;
    ssize_t n;
    do {
        n = read(error_pipe[0], &exec_error, sizeof exec_error);
    } while (n < 0 && errno == EINTR);
    close(error_pipe[0]);
    if (n == (ssize_t)sizeof exec_error) {
        int status;
        while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {
        }
        return -(exec_error > 0 ? exec_error : ECHILD);
    }
    return pid;
}
