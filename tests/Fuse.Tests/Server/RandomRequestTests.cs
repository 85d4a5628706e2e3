using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// Seeded random requests (a fixed seed, so a failure reproduces): garbage bodies behind valid and
/// invalid headers, cut anywhere, with reply areas of any size. The server must complete each
/// exactly once, never reply beyond the reply area, and answer with the request's unique.
/// </summary>
public class RandomRequestTests
{
    private static readonly FuseOpcode[] Opcodes = Enum.GetValues<FuseOpcode>().Where(o => o != FuseOpcode.SetLkW).ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_requests_never_break_the_server(int seed)
    {
        var random = new Random(seed);
        var h = new ServerHarness(new FuseServerOptions { Xattr = true, PosixAcl = true, Writeback = true });
        for (int i = 0; i < 3000; i++)
        {
            FuseOpcode opcode = Opcodes[random.Next(Opcodes.Length)];
            var builder = new FuseRequestBuilder(opcode, (ulong)random.Next(0, 20), unique: (ulong)i + 100);
            byte[] body = new byte[random.Next(0, 3) switch { 0 => random.Next(0, 16), 1 => random.Next(0, 200), _ => random.Next(0, 5000) }];
            random.NextBytes(body);
            if (random.Next(2) == 0)
            {
                // Mostly-valid: NUL bytes sprinkled so names terminate somewhere.
                for (int j = 0; j < body.Length; j += random.Next(1, 40))
                {
                    body[j] = 0;
                }
            }

            builder.AddBytes(body);
            if (random.Next(4) == 0)
            {
                byte[] payload = new byte[random.Next(0, 24)];
                random.NextBytes(payload);
                builder.AddExtension((uint)random.Next(0, 40), payload);
            }

            byte[] bytes = builder.ToBytes();
            if (random.Next(8) == 0)
            {
                MemoryMarshal.Write(bytes.AsSpan(0), (uint)random.Next());
            }

            if (random.Next(8) == 0)
            {
                MemoryMarshal.Write(bytes.AsSpan(36), (ushort)random.Next(0, 8));
            }

            int[] cuts = Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(1, bytes.Length + 1)).ToArray();
            int[] replySegments = Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(0, 300)).ToArray();
            h.Fs.Result = random.Next(3) == 0 ? -random.Next(1, 130) : 0;

            using var exchange = new FuseExchange(bytes, cuts, replySegments);
            FuseReply reply = exchange.Run(h.Server);

            Assert.True(reply.Length <= exchange.Writable.TotalLength);
            if (reply.Length > 0)
            {
                Assert.Equal((ulong)i + 100, reply.Header.Unique);
                Assert.True(reply.Error <= 0);
            }

            if (opcode == FuseOpcode.Init)
            {
                // Keep the session up so later requests get past the INIT gate.
                h.Run(FuseRequestBuilder.Init(ServerHarness.GuestFlags));
            }
        }
    }

    [Fact]
    public void Concurrent_requests_on_one_server_all_complete()
    {
        var h = new ServerHarness();
        h.Fs.Data = new byte[3000];
        Parallel.For(0, 2000, i =>
        {
            FuseRequestBuilder builder = (i % 4) switch
            {
                0 => new FuseRequestBuilder(FuseOpcode.Lookup, 1, (ulong)i).AddName($"n{i}"),
                1 => new FuseRequestBuilder(FuseOpcode.Read, 1, (ulong)i).Add(new FuseReadIn { Size = 4096 }),
                2 => new FuseRequestBuilder(FuseOpcode.Write, 1, (ulong)i).Add(new FuseWriteIn { Size = 100 }).AddBytes(new byte[100]),
                _ => new FuseRequestBuilder(FuseOpcode.ReadDir, 1, (ulong)i).Add(new FuseReadIn { Size = 4096 }),
            };
            FuseReply reply = h.Run(builder);
            Assert.Equal(0, reply.Error);
            Assert.Equal((ulong)i, reply.Header.Unique);
        });
    }
}
