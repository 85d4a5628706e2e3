using System.Diagnostics;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests;

/// <summary>
/// The frontend must be honest enough to drive the legacy C virtiofsd (the benchmark's reference peer):
/// the same handshake completes against it. Skips itself when the binary is not installed.
/// </summary>
public sealed class CVirtiofsdHandshakeTests : IDisposable
{
    private const string Binary = "/usr/lib/qemu/virtiofsd";
    private readonly string _dir = Directory.CreateTempSubdirectory("c-virtiofsd").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Frontend_handshake_completes_against_the_c_virtiofsd()
    {
        if (!File.Exists(Binary) || !Environment.IsPrivilegedProcess)
        {
            return; // Not installed / cannot sandbox: nothing to compare against on this machine.
        }
        string socket = Path.Combine(_dir, "c.sock");
        Directory.CreateDirectory(Path.Combine(_dir, "share"));
        using var process = Process.Start(new ProcessStartInfo(Binary,
            ["--socket-path=" + socket, "-o", "source=" + Path.Combine(_dir, "share"), "-o", "cache=none"])
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
