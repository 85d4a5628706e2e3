using System.Diagnostics;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests;

/// <summary>
/// The frontend must be honest enough to drive the legacy C virtiofsd (the benchmark's reference peer):
/// the same handshake completes against it. Skipped, with the reason, when the binary is not installed.
/// </summary>
public sealed class CVirtiofsdHandshakeTests : IDisposable
{
    private const string Binary = "/usr/lib/qemu/virtiofsd";
    private readonly TempDirectory _dir = new("virtiofsd-c-virtiofsd-handshake-");

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public void Frontend_handshake_completes_against_the_c_virtiofsd()
    {
        Skip.IfNot(File.Exists(Binary), $"{Binary} is not installed (scripts/setup.sh installs it)");
        Skip.IfNot(Environment.IsPrivilegedProcess, "the C virtiofsd needs root for its sandbox");
        string socket = _dir.Combine("c.sock");
        Directory.CreateDirectory(_dir.Combine("share"));
        using var process = Process.Start(new ProcessStartInfo(Binary,
            ["--socket-path=" + socket, "-o", "source=" + _dir.Combine("share"), "-o", "cache=none"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        try
        {
            using var ram = GuestRam.Single(0x100000);
            using var frontend = VhostUserFrontend.VhostUserFrontend.Connect(socket, ram);
            var alloc = new GuestAllocator(0, 0x100000);
            using FrontendQueue q0 = FrontendQueue.Allocate(0, 64, alloc);
            using FrontendQueue q1 = FrontendQueue.Allocate(1, 64, alloc);
            frontend.Handshake([q0, q1]);
            Assert.NotEqual(0UL, frontend.NegotiatedFeatures & Proto.FeatureVersion1);
            Assert.Equal(0u, frontend.GetVringBase(1));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            process.WaitForExit();
        }
    }
}
