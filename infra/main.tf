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
  pipeline_project_roles = [
    "roles/aiplatform.user",    # run pipeline jobs and custom training jobs, upload models
    "roles/dataflow.developer", # the Beam steps submit Dataflow jobs
    "roles/dataflow.worker",    # Dataflow workers run as this account
    "roles/logging.logWriter",  # every step's logs
  ]
  pipeline_bucket_roles = [
    "roles/storage.objectAdmin",        # data, pipeline artifacts, Dataflow temp files
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

resource "google_vertex_ai_tensorboard" "pretraining" {
  display_name = "${var.name}-pretraining"
  region       = var.region
  depends_on   = [google_project_service.required]
}
