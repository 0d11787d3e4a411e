//! Shipping plan fragments to compute nodes.
//!
//! [`ShipFragments`] is the last physical optimizer rule on the leader. It finds each
//! maximal subtree that can run slice by slice (a [`SliceScanExec`] under filters,
//! projections, partial aggregates, per-partition sorts and local limits) and replaces
//! it with a [`RemoteFragmentExec`], whose partition *i* runs the subtree's partition
//! *i* on the compute node holding slice *i*. Joins that [`crate::planner::collocate`] made
//! slice-local ship too, with the rows they need moved: where the rows to move come
//! from a fragment of their own, an [`ExchangeExec`] sends them between the compute
//! nodes; otherwise the leader makes them and sends them with the fragment
//! ([`LeaderRowsExec`]). What stays above (merges, final steps, joins that could not
//! be placed) runs on the leader.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use blueshift_operators::delivery::Delivery;
use blueshift_operators::exchange::{ExchangeExec, Producer};
use blueshift_operators::leader_rows::{LeaderRowsExec, moved_rows};
use blueshift_operators::load::LoadExec;
use blueshift_operators::scan::Placement;
use blueshift_operators::{FragmentCodec, SliceScanExec};
use blueshift_proto::{FragmentTicket, LeaderRows};
use bytes::Bytes;
use datafusion::common::Statistics;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;

use crate::cluster::ClusterClient;
use crate::planner::merge_join::{JoinOptions, merge_joins};
use crate::query_log::QueryScope;
use crate::query_log::steps::FragmentStats;

/// Wraps slice-local subtrees in [`RemoteFragmentExec`].
pub struct ShipFragments {
    cluster: ClusterClient,
    /// Scalar functions a compute node has (DataFusion's built-ins) ...
    shippable_functions: HashSet<String>,
    /// ... less those the leader overrides (`version()`, `current_user`, ...).
    leader_only_functions: HashSet<String>,
    /// A context with what a compute node knows, to check that fragments decode.
    compute_functions: SessionContext,
}

impl fmt::Debug for ShipFragments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipFragments").finish_non_exhaustive()
    }
}

impl ShipFragments {
    /// The rule for `cluster`; `leader_only_functions` must run on the leader.
    pub fn new(cluster: ClusterClient, leader_only_functions: &[&str]) -> Self {
        // What a compute node registers (ComputeService::new).
        let defaults = SessionContext::new();
        blueshift_operators::functions::register(&defaults);
        ShipFragments {
            cluster,
            compute_functions: defaults.clone(),
            shippable_functions: defaults
                .state()
                .scalar_functions()
                .keys()
                .cloned()
                .collect(),
            leader_only_functions: leader_only_functions
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    fn expressions_shippable(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        let mut ok = true;
        let _ = plan.apply_expressions(&mut |expr: &Arc<dyn PhysicalExpr>| {
            expr.apply(|e| {
                if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>() {
                    let name = f.name();
                    if !self.shippable_functions.contains(name)
                        || self.leader_only_functions.contains(name)
                    {
                        ok = false;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        });
        ok
    }

    /// Whether a compute node can decode `plan`: some expressions (scalar subqueries,
    /// for one) only exist inside the plan that owns them.
    pub(crate) fn decodes_on_compute(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        let codec = FragmentCodec::default();
        datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(
            Arc::clone(plan),
            &codec,
        )
        .and_then(|bytes| {
            datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
                &bytes,
                &self.compute_functions.task_ctx(),
                &codec,
            )
        })
        .is_ok()
    }

    /// Whether `plan` can run, partition by partition, on the compute nodes.
    pub(crate) fn slice_local(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        if plan.is::<SliceScanExec>() || moved_rows(plan).is_some() {
            return true;
        }
        if plan.is::<HashJoinExec>() {
            // A join CollocateJoins made: both inputs slice by slice, on the same slices.
            return crate::planner::locality::locality(plan).is_some()
                && self.expressions_shippable(plan)
                && plan.children().iter().all(|c| self.slice_local(c));
        }
        crate::planner::locality::per_partition_step(plan)
            && self.expressions_shippable(plan)
            && plan.children().len() == 1
            && plan.children().iter().all(|c| self.slice_local(c))
    }
}

impl ShipFragments {
    /// An exchange between the compute nodes for `plan`, if it is rows the leader
    /// would move whose producer runs whole on the compute nodes (and needs no rows
    /// from the leader itself).
    fn exchange_for(&self, plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
        let rows = plan.downcast_ref::<LeaderRowsExec>()?;
        let mut input = Arc::clone(rows.input()?);
        while input.is::<RepartitionExec>()
            || input
                .downcast_ref::<CoalescePartitionsExec>()
                .is_some_and(|c| c.fetch().is_none())
        {
            input = Arc::clone(input.children()[0]);
        }
        let producer = input.downcast_ref::<RemoteFragmentExec>()?;
        if !LeaderRowsExec::find_all(producer.fragment()).is_empty()
            || producer.schema() != rows.schema()
        {
            return None;
        }
        let layout = self.cluster.layout();
        let exchange = ExchangeExec::new(
            Producer {
                plan: Some(Arc::clone(producer.fragment())),
                encoded: producer.encoded.clone(),
                nodes: producer.slices.iter().map(|&s| layout.node_of(s)).collect(),
                addrs: self.cluster.addrs(),
            },
            rows.schema(),
            rows.properties().partitioning.partition_count(),
            rows.delivery.clone(),
        );
        Some(Arc::new(exchange))
    }
}

/// The slices rows moved into `plan` are distributed over by key, if any are.
fn distributed_slices(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<u32>> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if let Some(Delivery::ByKey { slices, .. }) = moved_rows(node) {
            found = Some(slices.clone());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

impl PhysicalOptimizerRule for ShipFragments {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let merge = JoinOptions::wanted(config).cloned();
        // A broadcast's input runs on the leader, apart from the plan around it: ship
        // its own slice-local parts first.
        let plan = plan
            .transform_up(|node| match node.downcast_ref::<LeaderRowsExec>() {
                Some(broadcast) => match broadcast.input() {
                    Some(input) => {
                        let shipped = self.optimize(Arc::clone(input), config)?;
                        Ok(Transformed::yes(
                            Arc::new(broadcast.with_input(shipped)) as Arc<dyn ExecutionPlan>
                        ))
                    }
                    None => Ok(Transformed::no(node)),
                },
                None => Ok(Transformed::no(node)),
            })?
            .data;
        let plan = plan
            .transform_down(|node| {
                let reads_slices = SliceScanExec::find(&node).is_some()
                    || LoadExec::find(&node).is_some()
                    || distributed_slices(&node).is_some();
                if reads_slices && self.slice_local(&node) && self.decodes_on_compute(&node) {
                    let node = match &merge {
                        Some(options) => merge_joins(node, false, options)?,
                        None => node,
                    };
                    let remote = RemoteFragmentExec::try_new(node, self.cluster.clone())?;
                    Ok(Transformed::new(
                        Arc::new(remote) as Arc<dyn ExecutionPlan>,
                        true,
                        TreeNodeRecursion::Jump,
                    ))
                } else {
                    Ok(Transformed::no(node))
                }
            })?
            .data;
        // What runs on the leader joins by merging too.
        let plan = match &merge {
            Some(options) => merge_joins(plan, true, options)?,
            None => plan,
        };
        // Rows that one fragment makes on the compute nodes for another's slices go
        // between the nodes, apart from the leader.
        plan.transform_down(|node| {
            let Some(remote) = node.downcast_ref::<RemoteFragmentExec>() else {
                return Ok(Transformed::no(node));
            };
            let fragment = Arc::clone(remote.fragment()).transform_up(|inner| {
                Ok(match self.exchange_for(&inner) {
                    Some(exchange) => Transformed::yes(exchange),
                    None => Transformed::no(inner),
                })
            })?;
            if !fragment.transformed {
                return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
            }
            let remote = RemoteFragmentExec::try_new(fragment.data, self.cluster.clone())?;
            Ok(Transformed::new(
                Arc::new(remote) as Arc<dyn ExecutionPlan>,
                true,
                TreeNodeRecursion::Jump,
            ))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "ship_fragments"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Runs a fragment on the compute nodes: partition *i* on the node of slice *i*.
#[derive(Debug)]
pub struct RemoteFragmentExec {
    fragment: Arc<dyn ExecutionPlan>,
    encoded: Bytes,
    /// The slice each partition reads.
    slices: Vec<u32>,
    cluster: ClusterClient,
    properties: Arc<PlanProperties>,
    /// What the slices reported when their streams ended (SVL_QUERY_SUMMARY).
    stats: Arc<FragmentStats>,
}

impl RemoteFragmentExec {
    /// Serializes `fragment` for shipping.
    pub fn try_new(fragment: Arc<dyn ExecutionPlan>, cluster: ClusterClient) -> Result<Self> {
        // A DISTSTYLE ALL table joined slice by slice reads its node's copy: the other
        // input's slices say where each partition runs.
        let scans = SliceScanExec::find_all(&fragment);
        let main_scan = scans
            .iter()
            .find(|s| !matches!(s.placement, Placement::All(_)))
            .or(scans.first());
        let slices = if let Some(scan) = main_scan {
            scan.partitions.iter().map(|p| p.slice).collect()
        } else if let Some(slices) = distributed_slices(&fragment) {
            slices
        } else if let Some(load) = LoadExec::find(&fragment) {
            load.slices()
        } else {
            return Err(DataFusionError::Internal(
                "a fragment must contain a slice scan, rows distributed to slices or a load".into(),
            ));
        };
        let encoded = datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(
            Arc::clone(&fragment),
            &FragmentCodec::default(),
        )?;
        let properties = Arc::clone(fragment.properties());
        Ok(RemoteFragmentExec {
            fragment,
            encoded,
            slices,
            cluster,
            properties,
            stats: Arc::default(),
        })
    }
}

impl RemoteFragmentExec {
    /// The plan each compute node runs.
    pub fn fragment(&self) -> &Arc<dyn ExecutionPlan> {
        &self.fragment
    }

    /// What the slices reported so far.
    pub fn stats(&self) -> Arc<FragmentStats> {
        Arc::clone(&self.stats)
    }
}

impl DisplayAs for RemoteFragmentExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let nodes: Vec<String> = self
            .slices
            .iter()
            .map(|s| format!("{}@node{}", s, self.cluster.layout().node_of(*s)))
            .collect();
        write!(f, "RemoteFragmentExec: slices=[{}]", nodes.join(","))?;
        // What runs on each compute node, one level further in.
        if matches!(t, DisplayFormatType::Default | DisplayFormatType::Verbose) {
            let fragment = datafusion::physical_plan::displayable(self.fragment.as_ref())
                .indent(matches!(t, DisplayFormatType::Verbose))
                .to_string();
            for line in fragment.lines() {
                write!(f, "\n  | {line}")?;
            }
        }
        Ok(())
    }
}

impl ExecutionPlan for RemoteFragmentExec {
    fn name(&self) -> &str {
        "RemoteFragmentExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        // What the nodes send is what the fragment makes.
        StatisticsContext::new().compute(self.fragment.as_ref(), args)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let scope = context.session_config().get_extension::<QueryScope>();
        let slice = *self.slices.get(partition).ok_or_else(|| {
            DataFusionError::Internal(format!("fragment has no partition {partition}"))
        })?;
        let node = self.cluster.layout().node_of(slice);
        let ticket = FragmentTicket {
            plan: self.encoded.clone(),
            partition: partition as u32,
            query_id: scope.as_ref().map_or(0, |s| s.query_id),
            // Every slice works at once: each gets its share of the query's memory.
            memory_bytes: scope.as_ref().map_or(0, |s| {
                s.memory_bytes / u64::from(self.cluster.layout().slice_count().max(1))
            }),
            leader_rows: vec![],
            exchange: None,
        };
        let cluster = self.cluster.clone();
        let stats = Arc::clone(&self.stats);
        let schema = self.schema();
        let broadcasts = broadcasts_in(&self.fragment);
        let stream = futures::stream::once(async move {
            let mut ticket = ticket;
            // The inner rows of DS_BCAST_INNER joins: made once on the leader, sent
            // to every slice.
            for plan in broadcasts {
                if let Some(broadcast) = plan.downcast_ref::<LeaderRowsExec>() {
                    let rows = broadcast
                        .encoded_rows(partition, Arc::clone(&context))
                        .await?;
                    ticket.leader_rows.push(LeaderRows {
                        id: broadcast.id,
                        ipc: rows,
                    });
                }
            }
            cluster
                .run_fragment(node, ticket, scope, Some(stats))
                .await
                .map_err(DataFusionError::from)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The broadcasts in a fragment.
fn broadcasts_in(fragment: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut found = Vec::new();
    let _ = fragment.apply(|node| {
        if node.is::<LeaderRowsExec>() {
            found.push(Arc::clone(node));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}
