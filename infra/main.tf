# Everything the Vertex AI path of simclr-tfx needs in one project: APIs, a private bucket,
# a container repository, a least-privilege pipeline service account and a TensorBoard.

locals {
  bucket_name = "${var.project}-${var.name}"
  apis = [
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "compute.googleapis.com",
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "storage.googleapis.com",
  ]
  # Project-level roles of the pipeline service account. No primitive roles (owner, editor, viewer).
  # Each is the narrowest predefined role that covers what the pipeline does:
  pipeline_project_roles = [
    # Runs pipeline jobs and custom training jobs, uploads models, deploys to endpoints. Project-wide
    # because Vertex AI creates those resources in the project; no narrower predefined role can.
    "roles/aiplatform.user",
    # The Beam steps create Dataflow jobs. The IAM documentation names dataflow.admin the minimal role
    # for creating jobs: dataflow.developer lacks compute.machineTypes.get and storage.buckets.get.
    "roles/dataflow.admin",
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
}

resource "google_project_service" "required" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
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

  # Old pipeline runs: their artifacts (examples, models, evaluations) go after the retention period.
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
  location      = var.region
  repository_id = var.name
  format        = "DOCKER"
  description   = "Container images of the simclr-tfx pipeline (make image)."
  depends_on    = [google_project_service.required]
}

resource "google_service_account" "pipeline" {
  account_id   = "${var.name}-pipeline"
  display_name = "simclr-tfx pipeline runs, training jobs and Dataflow workers"
}

resource "google_project_iam_member" "pipeline" {
  for_each = toset(local.pipeline_project_roles)
  project  = var.project
  role     = each.value
  member   = "serviceAccount:${google_service_account.pipeline.email}"
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

resource "google_vertex_ai_tensorboard" "pretraining" {
  display_name = "${var.name}-pretraining"
  region       = var.region
  depends_on   = [google_project_service.required]
}
