using System.Buffers.Binary;
using VirtioFsd.Linux;
using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>Random and adversarial message streams: the server logs, refuses or disconnects, never throws or leaks.</summary>
public sealed class HostileFrontendTests
{
    [Fact]
    public void Random_messages_after_a_valid_handshake_never_escape_the_server_or_leak_fds()
        => FdTable.AssertNoLeak(() => Storm(seed: 1, rounds: 20), () => Storm(seed: 2, rounds: 150));

    private static void Storm(int seed, int rounds)
    {
        var rng = new Random(seed);
        for (int round = 0; round < rounds; round++)
        {
            using var ram = GuestRam.Single(0x40000);
            var h = ServerHarness.OverSocketPair(ram);
            try
            {
                if (rng.Next(2) == 0)
                {
                    h.Frontend.Initialize();
                    h.Frontend.SetMemTable();
                    using FrontendQueue q = FrontendQueue.Allocate(0, 16, new GuestAllocator(0, 0x40000));
                    h.Frontend.StartQueue(q);
                }
                int[] fds = [Libc.EventFd(0, Libc.EFD_CLOEXEC), ram.Regions[0].MemFd];
                for (int m = 0; m < 20; m++)
                {
                    byte[] body = new byte[rng.Next(5) == 0 ? rng.Next(300) : rng.Next(4) * 8];
                    rng.NextBytes(body);
                    if (body.Length >= 4 && rng.Next(2) == 0)
                    {
                        // Small queue indexes and region counts reach deeper than pure noise.
                        BinaryPrimitives.WriteUInt32LittleEndian(body, (uint)rng.Next(4));
                    }
                    uint request = (uint)rng.Next(45);
                    uint flags = rng.Next(10) == 0 ? (uint)rng.Next() : Proto.Version | (rng.Next(2) == 0 ? Proto.NeedReplyFlag : 0);
                    h.Frontend.Socket.Send(request, flags, body, fds.AsSpan(0, rng.Next(3)));
                }
                Libc.Close(fds[0]);
                h.Frontend.Socket.Dispose();
                Assert.True(h.WaitForEnd(), "server did not finish the connection");
                Assert.Null(h.Escaped);
                Assert.Equal(0, h.Backend.RunningQueues);
            }
            finally
            {
                h.Dispose();
            }
        }
    }
}
