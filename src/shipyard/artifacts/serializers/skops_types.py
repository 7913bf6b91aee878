"""The explicit allow-list for skops files: which types and functions loading may create.

Exact names only, each tied to the kind of skops node that may carry it (a class restored from
its state, a container, an array, a type or function stored as a value...): no prefix wildcards,
because the numpy, scipy and scikit-learn namespaces hold callables that read files or run code.
The names are the defining modules skops records (``sklearn.linear_model._logistic``, not
``sklearn.linear_model``). The estimator table lists every estimator of scikit-learn 1.9; the test
``tests/registry/test_skops_allowlist.py`` fails when an installed scikit-learn has one it lacks.
Anything else must be named by the caller (``load_model(..., trusted=[...])``, ``--trust``).

Nothing here is imported: the tables are text, parsed on first use.
"""

from __future__ import annotations

import functools

#: scikit-learn estimators (public classes), by defining module
_ESTIMATORS = """
sklearn.calibration: CalibratedClassifierCV
sklearn.cluster._affinity_propagation: AffinityPropagation
sklearn.cluster._agglomerative: AgglomerativeClustering FeatureAgglomeration
sklearn.cluster._bicluster: SpectralBiclustering SpectralCoclustering
sklearn.cluster._birch: Birch
sklearn.cluster._bisect_k_means: BisectingKMeans
sklearn.cluster._dbscan: DBSCAN
sklearn.cluster._hdbscan.hdbscan: HDBSCAN
sklearn.cluster._kmeans: KMeans MiniBatchKMeans
sklearn.cluster._mean_shift: MeanShift
sklearn.cluster._optics: OPTICS
sklearn.cluster._spectral: SpectralClustering
sklearn.compose._column_transformer: ColumnTransformer
sklearn.compose._target: TransformedTargetRegressor
sklearn.covariance._elliptic_envelope: EllipticEnvelope
sklearn.covariance._empirical_covariance: EmpiricalCovariance
sklearn.covariance._graph_lasso: GraphicalLasso GraphicalLassoCV
sklearn.covariance._robust_covariance: MinCovDet
sklearn.covariance._shrunk_covariance: LedoitWolf OAS ShrunkCovariance
sklearn.cross_decomposition._pls: CCA PLSCanonical PLSRegression PLSSVD
sklearn.decomposition._dict_learning: DictionaryLearning MiniBatchDictionaryLearning SparseCoder
sklearn.decomposition._factor_analysis: FactorAnalysis
sklearn.decomposition._fastica: FastICA
sklearn.decomposition._incremental_pca: IncrementalPCA
sklearn.decomposition._kernel_pca: KernelPCA
sklearn.decomposition._lda: LatentDirichletAllocation
sklearn.decomposition._nmf: MiniBatchNMF NMF
sklearn.decomposition._pca: PCA
sklearn.decomposition._sparse_pca: MiniBatchSparsePCA SparsePCA
sklearn.decomposition._truncated_svd: TruncatedSVD
sklearn.discriminant_analysis: LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis
sklearn.dummy: DummyClassifier DummyRegressor
sklearn.ensemble._bagging: BaggingClassifier BaggingRegressor
sklearn.ensemble._forest: ExtraTreesClassifier ExtraTreesRegressor RandomForestClassifier
    RandomForestRegressor RandomTreesEmbedding
sklearn.ensemble._gb: GradientBoostingClassifier GradientBoostingRegressor
sklearn.ensemble._hist_gradient_boosting.gradient_boosting: HistGradientBoostingClassifier
    HistGradientBoostingRegressor
sklearn.ensemble._iforest: IsolationForest
sklearn.ensemble._stacking: StackingClassifier StackingRegressor
sklearn.ensemble._voting: VotingClassifier VotingRegressor
sklearn.ensemble._weight_boosting: AdaBoostClassifier AdaBoostRegressor
sklearn.feature_extraction._dict_vectorizer: DictVectorizer
sklearn.feature_extraction._hash: FeatureHasher
sklearn.feature_extraction.image: PatchExtractor
sklearn.feature_extraction.text: CountVectorizer HashingVectorizer TfidfTransformer TfidfVectorizer
sklearn.feature_selection._from_model: SelectFromModel
sklearn.feature_selection._rfe: RFE RFECV
sklearn.feature_selection._sequential: SequentialFeatureSelector
sklearn.feature_selection._univariate_selection: GenericUnivariateSelect SelectFdr SelectFpr SelectFwe
    SelectKBest SelectPercentile
sklearn.feature_selection._variance_threshold: VarianceThreshold
sklearn.frozen._frozen: FrozenEstimator
sklearn.gaussian_process._gpc: GaussianProcessClassifier
sklearn.gaussian_process._gpr: GaussianProcessRegressor
sklearn.impute._base: MissingIndicator SimpleImputer
sklearn.impute._knn: KNNImputer
sklearn.isotonic: IsotonicRegression
sklearn.kernel_approximation: AdditiveChi2Sampler Nystroem PolynomialCountSketch RBFSampler
    SkewedChi2Sampler
sklearn.kernel_ridge: KernelRidge
sklearn.linear_model._base: LinearRegression
sklearn.linear_model._bayes: ARDRegression BayesianRidge
sklearn.linear_model._coordinate_descent: ElasticNet ElasticNetCV Lasso LassoCV MultiTaskElasticNet
    MultiTaskElasticNetCV MultiTaskLasso MultiTaskLassoCV
sklearn.linear_model._glm.glm: GammaRegressor PoissonRegressor TweedieRegressor
sklearn.linear_model._huber: HuberRegressor
sklearn.linear_model._least_angle: Lars LarsCV LassoLars LassoLarsCV LassoLarsIC
sklearn.linear_model._logistic: LogisticRegression LogisticRegressionCV
sklearn.linear_model._omp: OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV
sklearn.linear_model._passive_aggressive: PassiveAggressiveClassifier PassiveAggressiveRegressor
sklearn.linear_model._perceptron: Perceptron
sklearn.linear_model._quantile: QuantileRegressor
sklearn.linear_model._ransac: RANSACRegressor
sklearn.linear_model._ridge: Ridge RidgeCV RidgeClassifier RidgeClassifierCV
sklearn.linear_model._stochastic_gradient: SGDClassifier SGDOneClassSVM SGDRegressor
sklearn.linear_model._theil_sen: TheilSenRegressor
sklearn.manifold._classical_mds: ClassicalMDS
sklearn.manifold._isomap: Isomap
sklearn.manifold._locally_linear: LocallyLinearEmbedding
sklearn.manifold._mds: MDS
sklearn.manifold._spectral_embedding: SpectralEmbedding
sklearn.manifold._t_sne: TSNE
sklearn.mixture._bayesian_mixture: BayesianGaussianMixture
sklearn.mixture._gaussian_mixture: GaussianMixture
sklearn.model_selection._classification_threshold: FixedThresholdClassifier TunedThresholdClassifierCV
sklearn.model_selection._search: GridSearchCV RandomizedSearchCV
sklearn.multiclass: OneVsOneClassifier OneVsRestClassifier OutputCodeClassifier
sklearn.multioutput: ClassifierChain MultiOutputClassifier MultiOutputRegressor RegressorChain
sklearn.naive_bayes: BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB
sklearn.neighbors._classification: KNeighborsClassifier RadiusNeighborsClassifier
sklearn.neighbors._graph: KNeighborsTransformer RadiusNeighborsTransformer
sklearn.neighbors._kde: KernelDensity
sklearn.neighbors._lof: LocalOutlierFactor
sklearn.neighbors._nca: NeighborhoodComponentsAnalysis
sklearn.neighbors._nearest_centroid: NearestCentroid
sklearn.neighbors._regression: KNeighborsRegressor RadiusNeighborsRegressor
sklearn.neighbors._unsupervised: NearestNeighbors
sklearn.neural_network._multilayer_perceptron: MLPClassifier MLPRegressor
sklearn.neural_network._rbm: BernoulliRBM
sklearn.pipeline: FeatureUnion Pipeline
sklearn.preprocessing._data: Binarizer KernelCenterer MaxAbsScaler MinMaxScaler Normalizer
    PowerTransformer QuantileTransformer RobustScaler StandardScaler
sklearn.preprocessing._discretization: KBinsDiscretizer
sklearn.preprocessing._encoders: OneHotEncoder OrdinalEncoder
sklearn.preprocessing._function_transformer: FunctionTransformer
sklearn.preprocessing._label: LabelBinarizer LabelEncoder MultiLabelBinarizer
sklearn.preprocessing._polynomial: PolynomialFeatures SplineTransformer
sklearn.preprocessing._target_encoder: TargetEncoder
sklearn.random_projection: GaussianRandomProjection SparseRandomProjection
sklearn.semi_supervised._label_propagation: LabelPropagation LabelSpreading
sklearn.semi_supervised._self_training: SelfTrainingClassifier
sklearn.svm._classes: LinearSVC LinearSVR NuSVC NuSVR OneClassSVM SVC SVR
sklearn.tree._classes: DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier
    ExtraTreeRegressor
"""

#: classes fitted estimators hold that are not estimators themselves
_INTERNALS = """
sklearn._loss.link: HalfLogitLink IdentityLink Interval LogLink LogitLink MultinomialLogit
sklearn._loss.loss: AbsoluteError ExponentialLoss HalfBinomialLoss HalfGammaLoss HalfMultinomialLoss
    HalfPoissonLoss HalfSquaredError HalfTweedieLoss HalfTweedieLossIdentity HuberLoss PinballLoss
sklearn.calibration: _CalibratedClassifier _SigmoidCalibration _TemperatureScaling
sklearn.cluster._bisect_k_means: _BisectingTree
sklearn.compose._column_transformer: make_column_selector
sklearn.ensemble._hist_gradient_boosting.binning: _BinMapper
sklearn.ensemble._hist_gradient_boosting.predictor: TreePredictor
sklearn.gaussian_process._gpc: _BinaryGaussianProcessClassifierLaplace
sklearn.gaussian_process.kernels: CompoundKernel ConstantKernel DotProduct ExpSineSquared Exponentiation
    Matern PairwiseKernel Product RBF RationalQuadratic Sum WhiteKernel
sklearn.metrics._dist_metrics: BrayCurtisDistance32 BrayCurtisDistance64 CanberraDistance32
    CanberraDistance64 ChebyshevDistance32 ChebyshevDistance64 DiceDistance32 DiceDistance64
    EuclideanDistance32 EuclideanDistance64 HammingDistance32 HammingDistance64 HaversineDistance32
    HaversineDistance64 JaccardDistance32 JaccardDistance64 MahalanobisDistance32 MahalanobisDistance64
    ManhattanDistance32 ManhattanDistance64 MatchingDistance32 MatchingDistance64 MinkowskiDistance32
    MinkowskiDistance64 PyFuncDistance32 PyFuncDistance64 RogersTanimotoDistance32
    RogersTanimotoDistance64 RussellRaoDistance32 RussellRaoDistance64 SEuclideanDistance32
    SEuclideanDistance64 SokalMichenerDistance32 SokalMichenerDistance64 SokalSneathDistance32
    SokalSneathDistance64
sklearn.metrics._scorer: _CurveScorer _MultimetricScorer _PassthroughScorer _Scorer
sklearn.model_selection._split: GroupKFold GroupShuffleSplit KFold LeaveOneGroupOut LeaveOneOut
    LeavePGroupsOut LeavePOut PredefinedSplit RepeatedKFold RepeatedStratifiedKFold ShuffleSplit
    StratifiedGroupKFold StratifiedKFold StratifiedShuffleSplit TimeSeriesSplit _CVIterableWrapper
sklearn.multiclass: _ConstantPredictor
sklearn.neighbors._ball_tree: BallTree
sklearn.neighbors._kd_tree: KDTree
sklearn.neural_network._stochastic_optimizers: AdamOptimizer SGDOptimizer
sklearn.utils._metadata_requests: MetadataRequest MetadataRouter MethodMapping MethodMetadataRequest
scipy.interpolate._bsplines: BSpline
scipy.interpolate._interpolate: interp1d
"""

#: the loss objects skops rebuilds by calling their class (LossNode)
_LOSSES = """
sklearn._loss._loss: CyAbsoluteError CyExponentialLoss CyHalfBinomialLoss CyHalfGammaLoss
    CyHalfMultinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLoss CyHalfTweedieLossIdentity
    CyHuberLoss CyPinballLoss
sklearn.linear_model._sgd_fast: EpsilonInsensitive Hinge ModifiedHuber SquaredEpsilonInsensitive SquaredHinge
"""

#: numpy scalar types (numpy 1.x and 2.x spellings): array element types and dtype values
_NUMPY_SCALARS = """
numpy: bool bool_ bytes_ clongdouble complex128 complex256 complex64 datetime64 float128 float16 float32
    float64 int16 int32 int64 int8 longdouble longlong object_ str_ timedelta64 uint16 uint32 uint64 uint8
    ulonglong void
"""

#: types stored as values (``dtype=np.float64``, ``dtype_include=[object]``, dict key types)
_VALUE_TYPES = """
builtins: bool bytes complex dict float frozenset int list object set str tuple
"""

#: functions stored as values (a scorer's metric, SelectKBest's score_func, FunctionTransformer's
#: func...): pure numeric functions only; anything else must be trusted by name
_FUNCTIONS = """
numpy: abs absolute amax amin arccos arccosh arcsin arcsinh arctan arctanh average cbrt ceil cos cosh exp
    exp2 expm1 fabs floor log log10 log1p log2 max mean median min nanmax nanmean nanmedian nanmin nanstd
    nansum negative reciprocal rint sign sin sinh sqrt square std sum tan tanh trunc var
scipy._lib.array_api_compat.numpy._aliases: asarray
sklearn.cluster._kmeans: _kmeans_single_elkan _kmeans_single_lloyd
sklearn.feature_selection._mutual_info: mutual_info_classif mutual_info_regression
sklearn.feature_selection._univariate_selection: chi2 f_classif f_oneway f_regression r_regression
sklearn.metrics._classification: accuracy_score balanced_accuracy_score brier_score_loss d2_brier_score
    d2_log_loss_score f1_score fbeta_score jaccard_score log_loss matthews_corrcoef precision_score
    recall_score
sklearn.metrics._ranking: average_precision_score roc_auc_score top_k_accuracy_score
sklearn.metrics._regression: d2_absolute_error_score explained_variance_score max_error
    mean_absolute_error mean_absolute_percentage_error mean_gamma_deviance mean_pinball_loss
    mean_poisson_deviance mean_squared_error mean_squared_log_error mean_tweedie_deviance
    median_absolute_error r2_score root_mean_squared_error root_mean_squared_log_error
sklearn.metrics._scorer: negative_likelihood_ratio positive_likelihood_ratio
sklearn.metrics.cluster._supervised: adjusted_mutual_info_score adjusted_rand_score completeness_score
    fowlkes_mallows_score homogeneity_score mutual_info_score normalized_mutual_info_score rand_score
    v_measure_score
sklearn.utils.validation: check_array
"""

#: the bit generators a numpy Generator may be rebuilt with (skops calls the named class)
BIT_GENERATORS = frozenset({"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"})

_SPARSE = """
scipy.sparse._bsr: bsr_array bsr_matrix
scipy.sparse._coo: coo_array coo_matrix
scipy.sparse._csc: csc_array csc_matrix
scipy.sparse._csr: csr_array csr_matrix
scipy.sparse._dia: dia_array dia_matrix
"""

#: modules (and their submodules) whose names are never loaded, not even when a caller "trusts"
#: them: they run code, import modules, unpickle, or read and write files and processes. The
#: allow-list above is the guard; this stops a refused name from being pasted back as ``trusted``.
NEVER_MODULES = frozenset(
    {
        "__main__", "asyncio", "atexit", "bdb", "builtins", "bz2", "code", "codeop", "cloudpickle",
        "compileall", "concurrent", "ctypes", "dill", "fileinput", "functools", "gc", "glob", "gzip",
        "http", "importlib", "inspect", "io", "joblib", "linecache", "lzma", "marshal",
        "multiprocessing", "nt", "ntpath", "operator", "os", "pathlib", "pdb", "pickle", "_pickle",
        "posix", "posixpath", "pty", "py_compile", "pydoc", "runpy", "shelve", "shutil", "signal",
        "socket", "sqlite3", "subprocess", "sys", "tarfile", "tempfile", "threading", "trace", "types",
        "urllib", "webbrowser", "zipfile", "zipimport",
        "numpy.ctypeslib", "numpy.f2py", "numpy.lib.npyio", "numpy.lib._npyio_impl", "numpy.testing",
        "pandas.io", "scipy.io", "sklearn.datasets", "sklearn.utils._testing",
    }
)  # fmt: skip
#: single names never loaded (numpy's file readers and writers live in its top-level namespace)
_NEVER_NAMES = """
numpy: fromfile genfromtxt load loadtxt memmap save savetxt savez savez_compressed
pandas: read_pickle to_pickle
"""
#: exceptions to NEVER_MODULES: plain data types
_NEVER_EXCEPT = """
builtins: bool bytearray bytes complex dict float frozenset int list object set slice str tuple
functools: partial
"""


def _parse(table: str) -> frozenset[str]:
    """``module: Name Name`` lines (continuation lines indented) -> {"module.Name", ...}."""
    names: set[str] = set()
    module = ""
    for line in table.splitlines():
        if not line.strip():
            continue
        text = line
        if not line[0].isspace():
            module, _, text = line.partition(":")
        names.update(f"{module}.{name}" for name in text.split())
    return frozenset(names)


@functools.cache
def allowed_by_loader() -> dict[str, frozenset[str]]:
    """skops node kind (``__loader__``) -> the exact names it may carry without being trusted."""
    scalars = _parse(_NUMPY_SCALARS)
    return {
        "ObjectNode": _parse(_ESTIMATORS) | _parse(_INTERNALS),
        "LossNode": _parse(_LOSSES),
        "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
        "DictNode": frozenset({"builtins.dict", "collections.OrderedDict", "sklearn.utils._bunch.Bunch"}),
        "DefaultDictNode": frozenset({"collections.defaultdict"}),
        "ListNode": frozenset({"builtins.list"}),
        "SetNode": frozenset({"builtins.set"}),
        "TupleNode": frozenset({"builtins.tuple"}),
        "SliceNode": frozenset({"builtins.slice"}),
        "BytesNode": frozenset({"builtins.bytes"}),
        "BytearrayNode": frozenset({"builtins.bytearray"}),
        "PartialNode": frozenset({"functools.partial"}),  # its function is a node checked on its own
        "NdArrayNode": frozenset({"numpy.ndarray"}) | scalars,
        "MaskedArrayNode": frozenset({"numpy.ma.MaskedArray"}),
        "DTypeNode": frozenset({"numpy.dtype"}),
        "RandomStateNode": frozenset({"numpy.random.mtrand.RandomState"}),
        "RandomGeneratorNode": frozenset({"numpy.random._generator.Generator"}),
        "SparseMatrixNode": _parse(_SPARSE),
        "TypeNode": _parse(_VALUE_TYPES) | scalars,
        "FunctionNode": _parse(_FUNCTIONS),
        # these call or look up whatever they name: only what the caller trusts by name
        "ConstructorFromReduceNode": frozenset(),
        "MethodNode": frozenset(),
        "OperatorFuncNode": frozenset(),
    }


@functools.cache
def estimator_names() -> frozenset[str]:
    """The scikit-learn estimators of the table, ``module.Class`` by defining module."""
    return _parse(_ESTIMATORS)


@functools.cache
def allowed_anywhere() -> frozenset[str]:
    return frozenset().union(*allowed_by_loader().values())


@functools.cache
def _never() -> tuple[frozenset[str], frozenset[str]]:
    return _parse(_NEVER_NAMES), _parse(_NEVER_EXCEPT)


def never_trusted(name: str) -> bool:
    """True for names shipyard refuses even when a caller trusts them (``builtins.exec``,
    ``os.system``, ``operator.attrgetter``, ``numpy.load``...)."""
    names, exceptions = _never()
    if name in exceptions:
        return False
    if name in names:
        return True
    parts = name.split(".")[:-1]
    return any(".".join(parts[: i + 1]) in NEVER_MODULES for i in range(len(parts)))
