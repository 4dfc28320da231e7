package dev.edgeplane.controlplane.metrics;

import dev.edgeplane.api.v1.ListSeriesRequest;
import dev.edgeplane.api.v1.ListSeriesResponse;
import dev.edgeplane.api.v1.MetricsServiceGrpc;
import dev.edgeplane.api.v1.QueryMetricsRequest;
import dev.edgeplane.api.v1.QueryMetricsResponse;
import dev.edgeplane.controlplane.ControlPlaneConfig;
import dev.edgeplane.controlplane.api.Calls;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;

/** MetricsService on the public API port (bearer token like the rest): reads the in-memory store. */
@GrpcService
@Blocking
public class MetricsApi extends MetricsServiceGrpc.MetricsServiceImplBase {
    private final MetricsQuery query;

    public MetricsApi(AgentMetrics metrics, ControlPlaneConfig config) {
        ControlPlaneConfig.Limits limits = config.limits();
        this.query = new MetricsQuery(metrics.store(), metrics.clock(), new MetricsQuery.Limits(limits.maxMetricsQueryNames(),
                limits.maxMetricsQueryMatchers(), limits.maxMetricsRegexBytes(), limits.maxMetricsRegexSteps(),
                limits.maxMetricsQuerySeries(), limits.maxMetricsQueryPoints()));
    }

    @Override
    public void queryMetrics(QueryMetricsRequest request, StreamObserver<QueryMetricsResponse> responseObserver) {
        Calls.unary(responseObserver, () -> query.query(request));
    }

    @Override
    public void listSeries(ListSeriesRequest request, StreamObserver<ListSeriesResponse> responseObserver) {
        Calls.unary(responseObserver, () -> query.listSeries(request));
    }
}
