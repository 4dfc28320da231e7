package dev.edgeplane.agent.pods;

import dev.edgeplane.api.v1.Container;

/** The pull policy a container really gets. */
public final class ImagePolicy {
    private ImagePolicy() {}

    /** Unspecified means IfNotPresent, or Always for an image tagged :latest or not tagged at all. */
    public static Container.PullPolicy effective(Container container) {
        Container.PullPolicy policy = container.getImagePullPolicy();
        if (policy != Container.PullPolicy.PULL_POLICY_UNSPECIFIED && policy != Container.PullPolicy.UNRECOGNIZED) {
            return policy;
        }
        return latestOrUntagged(container.getImage()) ? Container.PullPolicy.ALWAYS : Container.PullPolicy.IF_NOT_PRESENT;
    }

    static boolean latestOrUntagged(String image) {
        if (image.contains("@")) {
            return false; // pinned by digest
        }
        int slash = image.lastIndexOf('/');
        int colon = image.lastIndexOf(':');
        if (colon <= slash) {
            return true; // no tag (a colon before the last slash is a registry port)
        }
        return image.substring(colon + 1).equals("latest");
    }
}
