using VirtioFsd.TestSupport;
using VirtioFsd.Tests.Vm;

namespace VirtioFsd.Tests.Packaging;

/// <summary>
/// src/VirtioFsd/Native/spawn_namespaced.c on its own, linked into a C probe (the NativeAOT binary links the same
/// file): an execve that fails comes back as its errno with no child left behind, and a program it starts runs as pid 1
/// of new namespaces with the environment it was given and with no signal blocked or ignored that the caller had.
/// </summary>
public class NamespaceSpawnNativeTests
{
    private static readonly string Source = Path.Combine(VmRun.RepoRoot, "src", "VirtioFsd", "Native", "spawn_namespaced.c");

    private const string Probe = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <sched.h>
        #include <signal.h>
        #include <stdio.h>
        #include <sys/wait.h>
        #include <unistd.h>
        long virtiofsd_spawn_namespaced(const char *path, char *const argv[], char *const envp[], unsigned long namespaces,
            int ambient);
        int main(void)
        {
            char *env[] = { "PROBE=from-the-caller", NULL };
            char *missing[] = { "/nonexistent/program", NULL };
            long r = virtiofsd_spawn_namespaced(missing[0], missing, env, 0, 0);
            int reaped = waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
            printf("missing %ld reaped %d\n", r, reaped);
            fflush(stdout);
            /* What the runtime's threads have: some signals blocked, SIGPIPE ignored. */
            sigset_t block;
            sigemptyset(&block);
            sigaddset(&block, SIGTERM);
            sigprocmask(SIG_BLOCK, &block, NULL);
            signal(SIGPIPE, SIG_IGN);
            char *sh[] = { "/bin/sh", "-c",
                "echo pid $$ $PROBE; exec grep -E '^(SigBlk|SigIgn)' /proc/self/status", NULL };
            long pid = virtiofsd_spawn_namespaced(sh[0], sh, env,
                CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET, 0);
            int status = -1;
            if (pid > 0) {
                waitpid((pid_t)pid, &status, 0);
            }
            printf("started %d exit %d\n", pid > 0, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return 0;
        }
        """;

    [Fact]
    public void A_failed_exec_is_its_errno_and_a_started_program_is_pid_1_with_a_clean_signal_state()
    {
        Assert.True(VirtioFsd.Linux.Libc.GetEuid() == 0, "making namespaces without a user namespace needs root");
        using var dir = new TempDirectory("virtiofsd-spawn-");
        string probe = Path.Combine(dir.Path, "probe.c");
        File.WriteAllText(probe, Probe);
        string program = Path.Combine(dir.Path, "probe");
        NativeAotPublish.Run("gcc", dir.Path, "-O2", "-Wall", "-Werror", "-o", program, probe, Source);

        string[] lines = NativeAotPublish.Run(program, dir.Path).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            $"missing -{VirtioFsd.Linux.Errno.ENOENT} reaped 1",
            "pid 1 from-the-caller",
            "SigBlk:\t0000000000000000",
            "SigIgn:\t0000000000000000",
            "started 1 exit 0",
        ], lines);
    }
}
