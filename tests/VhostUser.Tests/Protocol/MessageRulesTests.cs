using VirtioFsd.VhostUser.Protocol;

namespace VirtioFsd.VhostUser.Tests.Protocol;

public sealed class MessageRulesTests
{
    private static RequestRule Rule(VhostUserRequest r) => MessageRules.Lookup((uint)r)!;

    [Theory]
    [InlineData(VhostUserRequest.GetFeatures, 0)]
    [InlineData(VhostUserRequest.SetFeatures, 8)]
    [InlineData(VhostUserRequest.SetOwner, 0)]
    [InlineData(VhostUserRequest.SetVringNum, 8)]
    [InlineData(VhostUserRequest.SetVringAddr, 40)]
    [InlineData(VhostUserRequest.SetVringBase, 8)]
    [InlineData(VhostUserRequest.GetVringBase, 8)]
    [InlineData(VhostUserRequest.SetVringEnable, 8)]
    [InlineData(VhostUserRequest.GetProtocolFeatures, 0)]
    [InlineData(VhostUserRequest.SetProtocolFeatures, 8)]
    [InlineData(VhostUserRequest.GetQueueNum, 0)]
    [InlineData(VhostUserRequest.ResetDevice, 0)]
    [InlineData(VhostUserRequest.GetMaxMemSlots, 0)]
    [InlineData(VhostUserRequest.SetStatus, 8)]
    [InlineData(VhostUserRequest.GetStatus, 0)]
    public void Fixed_size_requests_need_exactly_their_size(VhostUserRequest request, int size)
    {
        RequestRule rule = Rule(request);
        Assert.Null(MessageRules.Validate(rule, new byte[size], 0));
        Assert.NotNull(MessageRules.Validate(rule, new byte[size + 1], 0));
        if (size > 0)
        {
            Assert.NotNull(MessageRules.Validate(rule, new byte[size - 1], 0));
        }
        Assert.NotNull(MessageRules.Validate(rule, new byte[size], 1));
    }

    [Theory]
    [InlineData(VhostUserRequest.SetVringKick)]
    [InlineData(VhostUserRequest.SetVringCall)]
    [InlineData(VhostUserRequest.SetVringErr)]
    public void Vring_fd_requests_carry_one_fd_unless_the_nofd_bit_is_set(VhostUserRequest request)
    {
        RequestRule rule = Rule(request);
        byte[] withFd = BitConverter.GetBytes(3UL);
        byte[] noFd = BitConverter.GetBytes(3UL | (1UL << 8));
        Assert.Null(MessageRules.Validate(rule, withFd, 1));
        Assert.NotNull(MessageRules.Validate(rule, withFd, 0));
        Assert.NotNull(MessageRules.Validate(rule, withFd, 2));
        Assert.Null(MessageRules.Validate(rule, noFd, 0));
        Assert.NotNull(MessageRules.Validate(rule, noFd, 1));
    }

    [Fact]
    public void Mem_table_size_and_fds_follow_the_region_count()
    {
        RequestRule rule = Rule(VhostUserRequest.SetMemTable);
        byte[] body = new byte[8 + (2 * 32)];
        body[0] = 2;
        Assert.Null(MessageRules.Validate(rule, body, 2));
        Assert.NotNull(MessageRules.Validate(rule, body, 1));
        Assert.NotNull(MessageRules.Validate(rule, body, 3));
        Assert.NotNull(MessageRules.Validate(rule, body.AsSpan(0, 8 + 32), 2));
        Assert.NotNull(MessageRules.Validate(rule, body.AsSpan(0, 4), 0));
        byte[] nine = new byte[8 + (9 * 32)];
        nine[0] = 9;
        Assert.NotNull(MessageRules.Validate(rule, nine, 8));
        byte[] zero = new byte[8];
        Assert.NotNull(MessageRules.Validate(rule, zero, 0));
    }

    [Fact]
    public void Config_size_follows_its_header()
    {
        RequestRule rule = Rule(VhostUserRequest.GetConfig);
        byte[] body = new byte[12 + 40];
        body[4] = 40;
        Assert.Null(MessageRules.Validate(rule, body, 0));
        Assert.NotNull(MessageRules.Validate(rule, body.AsSpan(0, 12 + 39), 0));
        body[4] = 0;
        body[5] = 1; // 256 + header: still allowed only with a 268-byte body
        Assert.NotNull(MessageRules.Validate(rule, body, 0));
    }

    [Fact]
    public void Add_needs_one_fd_and_rem_accepts_zero_or_one()
    {
        Assert.Null(MessageRules.Validate(Rule(VhostUserRequest.AddMemReg), new byte[40], 1));
        Assert.NotNull(MessageRules.Validate(Rule(VhostUserRequest.AddMemReg), new byte[40], 0));
        Assert.Null(MessageRules.Validate(Rule(VhostUserRequest.RemMemReg), new byte[40], 0));
        Assert.Null(MessageRules.Validate(Rule(VhostUserRequest.RemMemReg), new byte[40], 1));
        Assert.NotNull(MessageRules.Validate(Rule(VhostUserRequest.RemMemReg), new byte[40], 2));
        Assert.NotNull(MessageRules.Validate(Rule(VhostUserRequest.SetBackendReqFd), [], 0));
    }

    [Fact]
    public void Unimplemented_and_unknown_requests_have_no_rule()
    {
        Assert.Null(MessageRules.Lookup((uint)VhostUserRequest.SetInflightFd));
        Assert.Null(MessageRules.Lookup((uint)VhostUserRequest.GetInflightFd));
        Assert.Null(MessageRules.Lookup(0));
        Assert.Null(MessageRules.Lookup(999));
        Assert.Equal("request 999", MessageRules.NameOf(999));
    }
}
