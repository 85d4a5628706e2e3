using VirtioFsd.Fuzz.Targets;

namespace VirtioFsd.Fuzz;

/// <summary>The registered targets. A test fails if one of them has no smoke run in the suite.</summary>
public static class FuzzTargets
{
    public const string VhostUserMessages = "vhost-user-messages";
    public const string DescriptorChains = "descriptor-chains";
    public const string FuseRequests = "fuse-requests";

    public static IReadOnlyList<string> Names { get; } = [VhostUserMessages, DescriptorChains, FuseRequests];

    /// <summary>A fresh target (it may own a temp directory or a server: dispose it).</summary>
    public static IFuzzTarget Create(string name) => name switch
    {
        VhostUserMessages => new VhostUserMessageTarget(),
        DescriptorChains => new DescriptorChainTarget(),
        FuseRequests => new FuseRequestTarget(),
        _ => throw new ArgumentException($"no fuzz target '{name}' (targets: {string.Join(", ", Names)})", nameof(name)),
    };
}
