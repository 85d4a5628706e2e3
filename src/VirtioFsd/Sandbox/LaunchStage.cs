using System.Globalization;

namespace VirtioFsd.Sandbox;

/// <summary>
/// The hand-over between the launch stage (the process the user started, on the host) and the sandboxed
/// child it re-executes. The child gets the same command line plus these environment variables; they
/// carry inherited descriptor numbers only, no decisions, so a stray value in a user's environment can at
/// worst make the child fail to find its descriptors.
/// </summary>
internal static class LaunchStage
{
    /// <summary>Set to "1" in the re-executed child: it sets the sandbox up and serves.</summary>
    public const string ChildVariable = "VIRTIOFSD_SANDBOX_CHILD";

    /// <summary>The listening socket the launch stage bound (or was given with --fd), inherited by number.</summary>
    public const string ListenFdVariable = "VIRTIOFSD_LISTEN_FD";

    /// <summary>Read end of a pipe whose write end only the launch stage holds: EOF means the launch stage is gone.</summary>
    public const string ParentPipeVariable = "VIRTIOFSD_PARENT_PIPE_FD";

    /// <summary>Read end of the pipe on which the launch stage says the user namespace's ids are mapped (unprivileged namespace mode).</summary>
    public const string UserNamespaceVariable = "VIRTIOFSD_USERNS_MAPPED_FD";

    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>An inherited descriptor number from the environment, or null if absent or malformed.</summary>
    public static int? InheritedFd(string variable)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int fd) && fd > 2 ? fd : null;
    }
}
