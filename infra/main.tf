# Everything the Vertex AI path of simclr-tfx needs in one project: APIs, a private bucket,
# a container repository, a least-privilege pipeline service account and a TensorBoard.

locals {
  bucket_name = "${var.project}-${var.name}"
  apis = [
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudresourcemanager.googleapis.com", # project IAM policy reads and writes (google_project_iam_*)
    "compute.googleapis.com",
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "serviceusage.googleapis.com", # enabling the others
    "storage.googleapis.com",
  ]
  # Project-level roles of the pipeline service account. No primitive roles (owner, editor, viewer).
  # Each is the narrowest predefined role that covers what the pipeline does:
  pipeline_project_roles = [
    # Runs pipeline jobs and custom training jobs, uploads models, deploys to endpoints. Project-wide
    # because Vertex AI creates those resources in the project; no narrower predefined role can.
    "roles/aiplatform.user",
    # The Beam steps create Dataflow jobs. Not dataflow.admin, which can act as service accounts
    # project-wide (checkov CKV_GCP_49): developer, plus what it lacks to create a job, which is
    # compute.machineTypes.get (the custom role below) and storage.buckets.get (legacyBucketReader
    # on this bucket). Acting as the worker account is granted on that account alone.
    "roles/dataflow.developer",
    "roles/dataflow.worker",   # Dataflow workers run as this account
    "roles/logging.logWriter", # every step's and worker's logs
  ]
  pipeline_bucket_roles = [
    # Reads data/, writes and deletes under pipeline-root/ (artifacts, resumable checkpoints) and
    # dataflow-tmp/. objectUser, not objectAdmin: no object ACL or IAM changes. Not split by prefix:
    # DataFingerprint and ImageExampleGen list data/, and IAM Conditions on object names do not
    # apply to listing, so a read-only data/ grant would need a second, bucket-level list role anyway.
    "roles/storage.objectUser",
    "roles/storage.legacyBucketReader", # Beam checks that its temp bucket exists (storage.buckets.get)
  ]
  # Whoever submits or schedules runs, or uses the registry commands (a CI account that is not an
  # owner, say). Project-level:
  submitter_project_roles = [
    # Creates pipeline jobs and schedules, reads and changes Model Registry versions and endpoints.
    "roles/aiplatform.user",
  ]
  submitter_bucket_roles = [
    # Uploads data and compiled specs, reads models (`embed --model`) and run artifacts.
    "roles/storage.objectUser",
    "roles/storage.legacyBucketReader", # `ingest`/`run` on gs:// check the bucket (storage.buckets.get)
  ]
  # Customer-managed encryption: opt-in (var.kms_key_name); Google-managed keys when unset.
  kms_key_name = var.kms_key_name == "" ? null : var.kms_key_name
}

resource "google_project_service" "required" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}

# The bucket's access logs (Cloud Storage usage logs). It does not log its own access: that
# would log each log write, without end.
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:the access-log bucket itself; logging its own access would never end
  name                        = "${local.bucket_name}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.access_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = local.kms_key_name == null ? [] : [local.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  depends_on = [google_project_service.required]
}

# Cloud Storage writes usage logs as this Google group (Cloud Storage docs, "Usage logs & storage logs").
resource "google_storage_bucket_iam_member" "usage_log_writer" {
  bucket = google_storage_bucket.access_logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

resource "google_storage_bucket" "pipeline" {
  name                        = local.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }

  dynamic "encryption" {
    for_each = local.kms_key_name == null ? [] : [local.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  # Old pipeline runs: their artifacts (examples, models, evaluations) go after the retention period.
  # Pushed models are copied to models/ first (registry.model_root), which no rule deletes.
  lifecycle_rule {
    condition {
      age            = var.pipeline_run_retention_days
      matches_prefix = ["pipeline-root/"]
    }
    action {
      type = "Delete"
    }
  }

  # Dataflow's temporary files.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["dataflow-tmp/"]
    }
    action {
      type = "Delete"
    }
  }

  # Versions kept by versioning once they are overwritten or deleted.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.required]
}

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:customer-managed key is opt-in (var.kms_key_name); Google-managed by default
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Container images of the simclr-tfx pipeline (make image)."
  kms_key_name  = local.kms_key_name
  depends_on    = [google_project_service.required]
}

resource "google_service_account" "pipeline" {
  account_id   = "${var.name}-pipeline"
  display_name = "simclr-tfx pipeline runs, training jobs and Dataflow workers"
  # IAM's API must be on before its first call; a first `apply` otherwise races its enabling.
  depends_on = [google_project_service.required]
}

# Dataflow job creation needs this besides dataflow.developer (the Dataflow access-control docs).
resource "google_project_iam_custom_role" "dataflow_launcher" {
  role_id     = "${replace(var.name, "-", "_")}DataflowLauncher"
  title       = "simclr-tfx Dataflow launcher"
  description = "What roles/dataflow.developer lacks to create a Dataflow job."
  permissions = ["compute.machineTypes.get"]
  depends_on  = [google_project_service.required]
}

resource "google_project_iam_member" "pipeline_launches_dataflow" {
  project = var.project
  role    = google_project_iam_custom_role.dataflow_launcher.name
  member  = "serviceAccount:${google_service_account.pipeline.email}"
}

resource "google_project_iam_member" "pipeline" {
  #checkov:skip=CKV_GCP_49:dataflow.developer launches jobs but acts as no account by itself; acting as one is granted on the pipeline account alone (pipeline_acts_as_itself)
  for_each = toset(local.pipeline_project_roles)
  project  = var.project
  role     = each.value
  member   = "serviceAccount:${google_service_account.pipeline.email}"
  # Cloud Resource Manager's API must be on first.
  depends_on = [google_project_service.required]
}

# On this bucket only, not the project's other buckets.
resource "google_storage_bucket_iam_member" "pipeline" {
  for_each = toset(local.pipeline_bucket_roles)
  bucket   = google_storage_bucket.pipeline.name
  role     = each.value
  member   = "serviceAccount:${google_service_account.pipeline.email}"
}

resource "google_artifact_registry_repository_iam_member" "pipeline_pulls_images" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.pipeline.email}"
}

# Pipeline steps start training jobs and Dataflow workers that run as this same account.
resource "google_service_account_iam_member" "pipeline_acts_as_itself" {
  service_account_id = google_service_account.pipeline.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.pipeline.email}"
}

# Whoever submits or schedules a pipeline run (`simclr-tfx submit`, `schedule create`) names this
# account as the run's service account, which Vertex AI allows only to principals who may act as it.
resource "google_service_account_iam_member" "submitters_act_as_pipeline" {
  for_each           = toset(var.submitters)
  service_account_id = google_service_account.pipeline.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_project_iam_member" "submitters" {
  for_each   = { for pair in setproduct(var.submitters, local.submitter_project_roles) : "${pair[0]} ${pair[1]}" => pair }
  project    = var.project
  member     = each.value[0]
  role       = each.value[1]
  depends_on = [google_project_service.required]
}

resource "google_storage_bucket_iam_member" "submitters" {
  for_each = { for pair in setproduct(var.submitters, local.submitter_bucket_roles) : "${pair[0]} ${pair[1]}" => pair }
  bucket   = google_storage_bucket.pipeline.name
  member   = each.value[0]
  role     = each.value[1]
}

# `make image` pushes the images (a CI account that builds them, too).
resource "google_artifact_registry_repository_iam_member" "submitters_push_images" {
  for_each   = toset(var.submitters)
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}

resource "google_vertex_ai_tensorboard" "pretraining" {
  #checkov:skip=CKV2_GCP_26:customer-managed key is opt-in (var.kms_key_name); Google-managed by default
  display_name = "${var.name}-pretraining"
  region       = var.region

  dynamic "encryption_spec" {
    for_each = local.kms_key_name == null ? [] : [local.kms_key_name]
    content {
      kms_key_name = encryption_spec.value
    }
  }

  depends_on = [google_project_service.required]
}
